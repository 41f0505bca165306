/**
 * A detector process: loads OpenCV and one detector, then answers analysis requests from its parent over IPC.
 * Run as a child process, not a worker thread: opencv4nodejs is not safe to load in several threads of one
 * process (measured here: a segfault when a second worker thread loads it), and a crash here cannot take the
 * server with it.
 */
import { analyzeJpeg, createDetector, type DetectorConfig } from './analyze';
import { loadOpenCV } from './opencv';
import type { FrameResult } from './types';

export type WorkerRequest = { id: number; jpeg: Uint8Array };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { id: number; ok: true; result: FrameResult }
  | { id: number; ok: false; code: string; message: string };

function reply(msg: WorkerReply): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env['VIGIL_DETECTOR_CONFIG'] ?? '{}') as DetectorConfig;
  let analyze: (jpeg: Buffer) => Promise<FrameResult>;
  try {
    const cv = loadOpenCV();
    const detector = await createDetector(cv, config);
    analyze = (jpeg) => analyzeJpeg(cv, detector, jpeg, config.thresholds);
  } catch (err) {
    reply({ type: 'fatal', message: (err as Error).message });
    process.exitCode = 1;
    process.disconnect?.();
    return;
  }
  // One frame at a time: the pool sends the next only after this one's reply.
  process.on('message', (req: WorkerRequest) => {
    const jpeg = Buffer.from(req.jpeg.buffer, req.jpeg.byteOffset, req.jpeg.byteLength);
    analyze(jpeg).then(
      (result) => reply({ id: req.id, ok: true, result }),
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
