/**
 * A detector process: loads OpenCV and one detector, then answers analysis requests from its parent over IPC.
 * Run as a child process, not a worker thread: opencv4nodejs is not safe to load in several threads of one
 * process (measured here: a segfault when a second worker thread loads it), and a crash here cannot take the
 * server with it.
 */
import { analyzeJpeg, createDetector, type DetectorConfig, type FaceDetector } from './analyze';
import { analyzeUnlessStill, type GateLimits, type GatedAnalysis, type Thumbnail } from './motion-gate';
import { loadOpenCV, type CV } from './opencv';
import type { FaceBox, FrameResult } from './types';
import type { VerdictThresholds } from './verdict';

/**
 * `full`: analyse, as `vigil detect` does for every frame. `gated`: analyse unless the frame matches `reference`.
 * `quick`: as `gated`, but a changed frame first gets the quick check for `lastFace`, the one face of the last
 * full analysis (frame pixels). Both gated kinds are answered with a `gated` reply. `likelyStill`: the candidate's
 * last frame was gated, which only changes the order of decoding (motion-gate.ts, analyzeUnlessStill).
 */
export type WorkerRequest =
  | { kind: 'full'; id: number; jpeg: Uint8Array }
  | { kind: 'gated'; id: number; jpeg: Uint8Array; reference: Thumbnail | null; limits: GateLimits; likelyStill: boolean }
  | { kind: 'quick'; id: number; jpeg: Uint8Array; reference: Thumbnail; limits: GateLimits; lastFace: FaceBox; likelyStill: boolean };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { id: number; ok: true; kind: 'full'; result: FrameResult }
  | { id: number; ok: true; kind: 'gated'; analysis: GatedAnalysis }
  | { id: number; ok: false; code: string; message: string };

type Answer = Extract<WorkerReply, { ok: true }>;

interface Analyzer {
  cv: CV;
  detector: FaceDetector;
  thresholds: VerdictThresholds;
}

function answer(req: WorkerRequest, { cv, detector, thresholds }: Analyzer): Promise<Answer> {
  const jpeg = Buffer.from(req.jpeg.buffer, req.jpeg.byteOffset, req.jpeg.byteLength);
  if (req.kind === 'full') return analyzeJpeg(cv, detector, jpeg, thresholds).then((result) => ({ id: req.id, ok: true, kind: 'full', result }));
  const lastFace = req.kind === 'quick' ? req.lastFace : null;
  return analyzeUnlessStill(cv, detector, jpeg, req.reference, req.limits, thresholds, lastFace, req.likelyStill).then((analysis) => ({ id: req.id, ok: true, kind: 'gated', analysis }));
}

function reply(msg: WorkerReply): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env['VIGIL_DETECTOR_CONFIG'] ?? '{}') as DetectorConfig;
  let analyzer: Analyzer;
  try {
    const cv = loadOpenCV();
    analyzer = { cv, detector: await createDetector(cv, config), thresholds: config.thresholds };
  } catch (err) {
    reply({ type: 'fatal', message: (err as Error).message });
    process.exitCode = 1;
    process.disconnect?.();
    return;
  }
  // One frame at a time: the pool sends the next only after this one's reply.
  process.on('message', (req: WorkerRequest) => {
    answer(req, analyzer).then(
      (msg) => reply(msg),
      (err: unknown) => {
        const e = err as Error & { code?: string };
        reply({ id: req.id, ok: false, code: e.code ?? 'VIGIL_ERR_DETECTOR_CRASH', message: e.message });
      },
    );
  });
  // The parent going away ends this process; nothing else keeps it alive.
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready' });
}

void main();
