/**
 * The simulated candidates of bench/ingest, run in a child process so that their CPU is apart from the
 * bench's own bookkeeping and can be measured. Each is the real CandidateClient speaking the real protocol
 * over TCP; the JPEGs (encoded once by the bench) are shared by all of them, so a candidate costs pacing and
 * socket writes, not encoding.
 *
 * Protocol with the parent (IPC): it sends one `ClientsJob`; this replies with one `ClientsDone`.
 */
import { CandidateClient } from '../src/client/client';
import { loadEncoded, replayEncoders } from './lib/encoded';
import { MemoryAudio, MemoryVideo, loadFrames } from './lib/media';

export interface ClientsJob {
  port: number;
  ids: string[];
  seconds: number;
  framesFile: string;
  pcmFile: string;
  /** Clients start spread over this many milliseconds, as candidates do not join in the same instant. */
  staggerMs: number;
  /** H.264 + Opus replayed from this file (bench/lib/encoded.ts) instead of the JPEGs and PCM. */
  encodedFile?: string;
}

export interface ClientOutcome {
  id: string;
  exitCode: number;
  reason: string;
  videoFramesSent: number;
  audioSecondsSent: number;
  /** Wall time from the first video frame sent to the last. */
  videoS: number;
  lost: number;
  reconnects: number;
}

export interface ClientsDone {
  outcomes: ClientOutcome[];
}

function isJob(v: unknown): v is ClientsJob {
  const j = v as Partial<ClientsJob> | null;
  return typeof j === 'object' && j !== null && typeof j.port === 'number' && Array.isArray(j.ids) && typeof j.seconds === 'number' && typeof j.framesFile === 'string';
}

async function run(job: ClientsJob): Promise<ClientsDone> {
  const { readFileSync } = await import('node:fs');
  const jpegs = loadFrames(job.framesFile);
  const pcm = readFileSync(job.pcmFile);
  const encoded = job.encodedFile ? loadEncoded(job.encodedFile) : null;
  const outcomes = await Promise.all(
    job.ids.map(async (id, i) => {
      await new Promise((r) => setTimeout(r, (i * job.staggerMs) / job.ids.length));
      const video = new MemoryVideo(jpegs, job.seconds * 15);
      const encoders = encoded ? replayEncoders(encoded, job.seconds) : null;
      const r = await new CandidateClient({
        host: '127.0.0.1',
        port: job.port,
        candidateId: id,
        token: '',
        clientVersion: 'bench',
        video: { source: video, width: 640, height: 480 },
        audio: new MemoryAudio(pcm, job.seconds),
        loop: false,
        print: () => undefined,
        replyTimeoutMs: 120_000,
        ...(encoders ? { codec: 'h264' as const, encoders } : {}),
      }).run();
      const videoS = ((encoders ?? video).lastAt - (encoders ?? video).firstAt) / 1000;
      return { id, exitCode: r.exitCode, reason: r.reason, videoFramesSent: r.videoFramesSent, audioSecondsSent: r.audioSecondsSent, videoS, lost: r.lost, reconnects: r.reconnects };
    }),
  );
  return { outcomes };
}

// Without the bench there is nobody to report to: stop rather than stream on.
process.once('disconnect', () => process.exit(1));

process.once('message', (msg: unknown) => {
  if (!isJob(msg)) {
    console.error('ingest-clients: the parent sent something that is not a job');
    process.exit(2);
  }
  run(msg).then(
    (done) => process.send!(done, () => process.exit(0)),
    (err: unknown) => {
      console.error('ingest-clients:', err);
      process.exit(1);
    },
  );
});
