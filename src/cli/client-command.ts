// `vigil client`: opens the candidate's video and audio sources from the flags and runs a CandidateClient.
import { existsSync, readFileSync } from 'node:fs';
import { CandidateClient, ClientExit, type AudioSource } from '../client/client';
import { MicrophoneSource } from '../media/mic';
import { MediaProbeError } from '../media/probe';
import { VideoFileSource } from '../media/video-file';
import { WavFileSource } from '../media/wav-file';
import { VERSION, onceInterrupted } from './options';

/** `camera`, `camera:N` or `/dev/videoN` name a webcam (V4L2); anything else is a file. */
function cameraDevice(spec: string): string | null {
  if (spec === 'camera') return '/dev/video0';
  const m = /^camera:(\d+)$/.exec(spec);
  if (m) return `/dev/video${m[1]}`;
  return /^\/dev\/video\d+$/.test(spec) ? spec : null;
}

export interface ClientFlags {
  server: { host: string; port: number };
  tls: boolean;
  tlsCa?: string;
  id: string;
  token: string;
  video: string;
  audio: string;
  width: number;
  height: number;
  fps?: number;
  quality: number;
  loop: boolean;
  reconnect: number;
  buffer: number;
  codec?: 'h264' | 'mjpeg';
}

export async function client(flags: ClientFlags): Promise<number> {
  const print = (line: string): void => void process.stdout.write(line + '\n');
  let video: VideoFileSource | null = null;
  let audio: AudioSource | null = null;
  try {
    if (flags.video !== 'none') {
      const opts = { width: flags.width, height: flags.height, quality: flags.quality, ...(flags.fps ? { fps: flags.fps } : {}) };
      const camera = cameraDevice(flags.video);
      if (camera && !existsSync(camera)) {
        throw new MediaProbeError(`no camera: tried ${camera} (no such device; \`vigil devices\` lists the cameras here)`);
      }
      const v4l2 = { inputFormat: 'v4l2', inputOptions: ['-framerate', String(flags.fps ?? 15), '-video_size', `${flags.width}x${flags.height}`] };
      video = await VideoFileSource.open(camera ?? flags.video, camera ? { ...opts, ...v4l2 } : opts);
    }
    if (flags.audio === 'mic' || flags.audio.startsWith('mic:')) audio = await MicrophoneSource.open(flags.audio);
    else if (flags.audio !== 'none') audio = await WavFileSource.open(flags.audio);
  } catch (err) {
    if (err instanceof MediaProbeError) {
      process.stderr.write(`vigil client: ${err.message}\n`);
      return ClientExit.usage;
    }
    throw err;
  }
  if (!video && !audio) {
    process.stderr.write('vigil client: nothing to send: give --video FILE, --audio FILE.wav, or both\n');
    return ClientExit.usage;
  }
  let ca: Buffer | undefined;
  if (flags.tlsCa) {
    try {
      ca = readFileSync(flags.tlsCa);
    } catch (err) {
      process.stderr.write(`vigil client: cannot read --tls-ca: ${(err as Error).message}\n`);
      return ClientExit.usage;
    }
  }
  const { signal, dispose } = onceInterrupted();
  const c = new CandidateClient({
    tls: flags.tls || ca ? (ca ? { ca } : {}) : null,
    host: flags.server.host,
    port: flags.server.port,
    candidateId: flags.id,
    token: flags.token,
    clientVersion: `vigil ${VERSION}`,
    video: video ? { source: video, width: flags.width, height: flags.height } : null,
    audio,
    loop: flags.loop,
    print,
    signal,
    reconnectForMs: flags.reconnect * 1000,
    bufferSeconds: flags.buffer,
    codec: flags.codec ?? 'h264',
  });
  const r = await c.run();
  dispose();
  const extra = r.reconnects || r.lost ? `, ${r.reconnects} reconnect(s), ${r.lost} lost` : '';
  // What was lost and where, before the summary, so the last lines a candidate sees tell the whole story.
  for (const line of r.mediaLines) print(line);
  const summary = `sent ${r.videoFramesSent} video frames and ${r.audioChunksSent} audio chunks (${r.audioSecondsSent.toFixed(2)} s) in ${r.elapsedS.toFixed(1)} s, ${r.warnings} warning(s)${extra}`;
  if (r.exitCode === ClientExit.ok) print(`${r.reason}; ${summary}`);
  else {
    print(summary);
    process.stderr.write(`vigil client: ${r.reason}\n`);
  }
  return r.exitCode;
}
