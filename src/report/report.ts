// `vigil report`: reads every session of a record dir (or a copy of one) and writes OUT/index.html, its pictures in
// OUT/img, OUT/sessions.csv and OUT/incidents.csv. It never imports the server: it works from the files alone.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { imageKey, incidentsCsv, sessionsCsv } from './csv';
import { renderPage } from './html';
import { FACE_KINDS, RECORDING_FILE, readSession, type SessionReview } from './read-session';
import { Progress, REPORT_EXIT, ReportError, findSessions, mapLimit } from './scan';
import { startFromSessionId } from './session-json';
import { extractThumbnail, type IncidentImage } from './thumbnails';

export interface ReportOptions {
  recordDir: string;
  out: string;
  since?: Date | null;
  err: NodeJS.WritableStream & { isTTY?: boolean };
  /** ffprobe/ffmpeg processes at once (default: twice the cores, 2 to 8: each is short and mostly starting up). */
  jobs?: number;
  now?: Date;
  /** Least time between progress lines (default 1 s, so a small folder prints none). */
  progressEveryMs?: number;
}

export interface ReportResult {
  exitCode: number;
  ranked: SessionReview[];
  images: Map<string, IncidentImage>;
  files: { html: string; sessionsCsv: string; incidentsCsv: string };
}

/** Highest priority first; equal scores by start time, then folder, so the order is stable. */
export function rank(sessions: SessionReview[]): SessionReview[] {
  return [...sessions].sort((a, b) => b.score - a.score || (a.startedAt?.getTime() ?? 0) - (b.startedAt?.getTime() ?? 0) || a.rel.localeCompare(b.rel));
}

/** A candidate folder that could not even be listed still gets a line in the report. */
function unlistable(rel: string, why: string): SessionReview {
  return {
    rel, candidateId: rel, sessionId: '?', facts: null, startedAt: null, endedAt: null, ended: null, durationS: 0, recording: null,
    incidents: [], problems: [{ what: why, damage: true }], score: 10, scoreParts: [{ what: 'folder unreadable', points: 10 }],
  };
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new ReportError('VIGIL_ERR_REPORT_WRITE', `cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * A file name from the session's folder (unique, even for copies of one session under two names) and the incident,
 * that stays inside img/ whatever the folder names were.
 */
function imageName(s: SessionReview, id: number, kind: string): string {
  const safe = (v: string): string => v.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${s.rel.split(path.sep).map(safe).join('_')}_${id}_${safe(kind)}.jpg`;
}

export async function runReport(opts: ReportOptions): Promise<ReportResult> {
  const started = performance.now();
  const jobs = opts.jobs ?? Math.max(2, Math.min(8, 2 * availableParallelism()));
  const progress = new Progress(opts.err, opts.progressEveryMs);
  const found = await findSessions(opts.recordDir);
  if (found.sessions.length + found.unreadable.length === 0) {
    opts.err.write(`vigil report: no sessions in ${opts.recordDir}: a record dir holds <candidate>/<session>/ folders (point --record-dir at the folder \`vigil serve --record-dir\` wrote, not at one candidate's)\n`);
  }
  const since = opts.since ?? null;
  // The session id says when it started; folders named otherwise are read and judged by session.json.
  const candidates = found.sessions.filter((rel) => {
    const t = since ? startFromSessionId(path.basename(rel)) : null;
    return !since || !t || t >= since;
  });

  const imgDir = path.join(opts.out, 'img');
  try {
    await mkdir(imgDir, { recursive: true });
  } catch (err) {
    throw new ReportError('VIGIL_ERR_REPORT_WRITE', `cannot create ${imgDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }

  let done = 0;
  const read = await mapLimit(candidates, jobs, async (rel) => {
    const s = await readSession(opts.recordDir, rel);
    progress.tick('reading sessions', ++done, candidates.length);
    return s;
  });
  const kept = read.filter((s) => !since || !s.startedAt || s.startedAt >= since);
  const ranked = rank([...kept, ...found.unreadable.map((u) => unlistable(u.rel, u.why))]);

  const wanted = ranked.flatMap((s) => (s.recording ? s.incidents.filter((x) => FACE_KINDS.has(x.kind)).map((x) => ({ s, x })) : []));
  const images = new Map<string, IncidentImage>();
  for (const s of ranked) {
    if (s.recording) continue;
    for (const x of s.incidents) if (FACE_KINDS.has(x.kind)) images.set(imageKey(s, x.id), { ok: false, why: 'the recording cannot be read' });
  }
  progress.phase();
  done = 0;
  await mapLimit(wanted, jobs, async ({ s, x }) => {
    const playable = s.recording?.playableS ?? 0;
    if (x.start_s >= playable) {
      images.set(imageKey(s, x.id), { ok: false, why: `the recording plays only to ${playable.toFixed(1)} s, before this incident` });
      progress.tick('taking pictures', ++done, wanted.length);
      return;
    }
    const name = imageName(s, x.id, x.kind);
    const t = await extractThumbnail(path.join(opts.recordDir, s.rel, RECORDING_FILE), x.start_s, path.join(imgDir, name), x.faces);
    images.set(imageKey(s, x.id), t.ok ? { ok: true, href: `img/${name}`, frameS: t.frameS } : t);
    progress.tick('taking pictures', ++done, wanted.length);
  });

  const files = { html: path.join(opts.out, 'index.html'), sessionsCsv: path.join(opts.out, 'sessions.csv'), incidentsCsv: path.join(opts.out, 'incidents.csv') };
  const page = renderPage({ ranked, images, recordDir: opts.recordDir, since, generatedAt: opts.now ?? new Date() });
  await writeAtomic(files.sessionsCsv, sessionsCsv(ranked));
  await writeAtomic(files.incidentsCsv, incidentsCsv(ranked, images));
  await writeAtomic(files.html, page);

  const troubled = ranked.filter((s) => s.problems.length);
  const failedImages = [...images.values()].filter((i) => !i.ok).length;
  for (const s of troubled) opts.err.write(`vigil report: ${s.rel}: ${s.problems.map((p) => p.what).join('; ')}\n`);
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  opts.err.write(
    `vigil report: ${ranked.length} session(s), ${ranked.filter((s) => s.score > 0).length} to review, ${troubled.length} with problems, ` +
      `${images.size - failedImages} picture(s)${failedImages ? ` (${failedImages} could not be taken)` : ''} in ${secs} s: ${files.html}\n`,
  );
  return { exitCode: troubled.length || failedImages ? REPORT_EXIT.sessionsWithProblems : REPORT_EXIT.ok, ranked, images, files };
}
