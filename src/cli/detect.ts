import { DetectorPool, IncidentTracker, type FrameResult, type Incident, type PoolOptions } from '../detect';
import { MediaProbeError } from '../media/probe';
import { VideoFileSource } from '../media/video-file';
import { duration, table } from './format';

export interface DetectOptions {
  file: string;
  json: boolean;
  pool: PoolOptions;
  /** Analyses per second; undefined analyses every frame. */
  analyzeFps?: number;
  incidentAfterS: number;
  out: NodeJS.WritableStream;
  err: NodeJS.WriteStream;
}

interface Pending {
  index: number;
  t: number;
  result: Promise<FrameResult>;
}

function progressBar(done: number, total: number): string {
  const width = 30;
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total || '?'} frames ${Math.round(frac * 100)}%`;
}

function incidentTable(incidents: Incident[]): string {
  if (incidents.length === 0) return 'no incidents';
  const rows = incidents.map((i) => [
    String(i.id),
    i.kind,
    i.start_s.toFixed(2),
    (i.end_s ?? i.start_s).toFixed(2),
    duration((i.end_s ?? i.start_s) - i.start_s),
    String(i.frames),
    i.peak_confidence.toFixed(2),
  ]);
  return table(['#', 'KIND', 'START S', 'END S', 'LASTED', 'FRAMES', 'PEAK'], rows, new Set([0, 2, 3, 4, 5, 6]));
}

/**
 * `vigil detect FILE`: the server's per-frame path (JPEG -> detector process -> verdict -> incident tracker)
 * run over a file, every frame or at --analyze-fps. Resolves with the exit code.
 */
export async function runDetect(opts: DetectOptions): Promise<number> {
  let source: VideoFileSource;
  try {
    source = await VideoFileSource.open(opts.file, { quality: 90 });
  } catch (err) {
    if (err instanceof MediaProbeError) {
      opts.err.write(`vigil detect: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const pool = await DetectorPool.start(opts.pool);
  const tracker = new IncidentTracker(opts.incidentAfterS);
  const incidents: Incident[] = [];
  const counts: Record<string, number> = {};
  const total = opts.analyzeFps ? Math.ceil((source.declaredFrames / source.fps) * Math.min(opts.analyzeFps, source.fps)) : source.declaredFrames;
  const showProgress = !opts.json && opts.err.isTTY === true;
  const window = pool.size * 2;
  const pending: Pending[] = [];
  let done = 0;
  let lastT = 0;

  const emit = async (p: Pending): Promise<void> => {
    const r = await p.result;
    done++;
    lastT = p.t;
    counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
    for (const e of tracker.update(p.t, r.verdict, r.confidence)) if (e.type === 'close') incidents.push(e.incident);
    if (opts.json) {
      const faces = r.faces.map(({ x, y, w, h, score }) => ({ x, y, w, h, score }));
      opts.out.write(JSON.stringify({ frame: p.index, t: Math.round(p.t * 1000) / 1000, verdict: r.verdict, why: r.why, faces }) + '\n');
    } else if (showProgress && (done % 10 === 0 || done === total)) {
      opts.err.write(progressBar(done, total));
    }
  };

  try {
    const interval = opts.analyzeFps ? 1 / opts.analyzeFps : 0;
    let nextDue = 0;
    let index = 0;
    for await (const jpeg of source.frames()) {
      const t = index / source.fps;
      const i = index++;
      if (t + 1e-9 < nextDue) continue;
      nextDue = t + interval;
      pending.push({ index: i, t, result: pool.analyze(jpeg) });
      if (pending.length >= window) await emit(pending.shift()!);
    }
    while (pending.length > 0) await emit(pending.shift()!);
    for (const e of tracker.finish(index / source.fps)) incidents.push(e.incident);
  } catch (err) {
    // Let in-flight analyses settle so none rejects unobserved after we return.
    await Promise.allSettled(pending.map((p) => p.result));
    if (err instanceof MediaProbeError) {
      opts.err.write(`${showProgress ? '\n' : ''}vigil detect: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await pool.close();
  }
  if (!opts.json) {
    if (showProgress) opts.err.write('\n');
    const summary = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
    opts.out.write(`${opts.file}: ${done} frames analysed over ${lastT.toFixed(1)} s with ${opts.pool.detector} (${summary})\n`);
    opts.out.write(incidentTable(incidents) + '\n');
  }
  return 0;
}
