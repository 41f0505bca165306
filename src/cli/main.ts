import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AdminClientError } from '../admin/client';
import { CandidateClient, ClientExit, type AudioSource } from '../client/client';
import { MicrophoneSource, listAudioInputs } from '../media/mic';
import { MediaProbeError } from '../media/probe';
import { ABSOLUTE_MAX_PAYLOAD, DEFAULT_LIMITS } from '../protocol';
import { VideoFileSource } from '../media/video-file';
import { WavFileSource } from '../media/wav-file';
import { AdminSocketError, AuthError, ServerError, VigilServer, candidateIdProblem, isLoopback, issueToken, loadSecret, parseTtl } from '../server';
import { DEFAULT_THRESHOLDS, DetectError, DetectorPool, type DetectorName, type PoolOptions } from '../detect';
import { runConsole } from '../tui/console';
import { runDetect } from './detect';
import { runListen } from './listen';
import { installCrashHandlers, onCrash } from './crash';
import { createLogger, flushLogger } from './logger';
import { runStatus } from './status';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = (require('../../../package.json') as { version: string }).version;
const DEFAULT_RECORD_DIR = './recordings';
const DEFAULT_PORT = 9996;

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function numArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    return n;
  };
}

function hostPort(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:9996');
  return { host: (m[1] ?? m[2])!, port };
}

/** `camera`, `camera:N` or `/dev/videoN` name a webcam (V4L2); anything else is a file. */
function cameraDevice(spec: string): string | null {
  if (spec === 'camera') return '/dev/video0';
  const m = /^camera:(\d+)$/.exec(spec);
  if (m) return `/dev/video${m[1]}`;
  return /^\/dev\/video\d+$/.test(spec) ? spec : null;
}

/** Turns a subcommand's expected, typed errors into its one-line message and exit code; anything else is a bug. */
function expected(command: string, code: number, ...types: Array<abstract new (...args: never[]) => Error>) {
  return (err: unknown): number => {
    if (!types.some((T) => err instanceof T)) throw err;
    process.stderr.write(`vigil ${command}: ${(err as Error).message}\n`);
    return code;
  };
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once, for a user whose shutdown hangs. */
function onceInterrupted(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    ac.abort(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

interface ServeFlags {
  host: string;
  port: number;
  recordDir: string;
  adminSocket?: string;
  auth: 'none' | 'tokens';
  secretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  logFile?: string;
  logLevel: string;
  handshakeTimeout: number;
  idleTimeout: number;
  maxVideoBytes: number;
  maxAudioBytes: number;
  analyzeFps: number;
  maxCandidates: number;
  speechAfter: number;
  resumeWindow: number;
  maxPendingPerIp: number;
  maxMsgRate: number;
  drainTimeout: number;
}

interface DetectionFlags {
  detector: DetectorName | 'none';
  incidentAfter: number;
  minInside: number;
  minFace: number;
  maxFace: number;
  minOtherFace: number;
  minScore: number;
}

/** The options `serve` and `detect` share, so both judge frames by the same rules. */
function addDetectionOptions(cmd: Command, allowNone: boolean): Command {
  const t = DEFAULT_THRESHOLDS;
  return cmd
    .addOption(new Option('--detector <name>', 'face detector: dnn (UltraFace + BlazeFace, ONNX) or haar (cascades + eye check)' + (allowNone ? '; none turns detection off' : ''))
      .choices(allowNone ? ['dnn', 'haar', 'none'] : ['dnn', 'haar']).default('dnn'))
    .option('--incident-after <s>', 'seconds a face state must hold to open or close an incident', numArg('--incident-after', 0, 60), 1.0)
    .option('--min-inside <f>', 'share of the face box that must be inside the picture', numArg('--min-inside', 0.05, 1), t.minInside)
    .option('--min-face <f>', 'narrowest face, as a fraction of the frame width', numArg('--min-face', 0, 1), t.minFaceWidth)
    .option('--max-face <f>', 'widest face, as a fraction of the frame width', numArg('--max-face', 0, 1), t.maxFaceWidth)
    .option('--min-other-face <f>', 'narrowest face (fraction of the frame width) that counts as a second person', numArg('--min-other-face', 0, 1), t.minOtherFace)
    .option('--min-score <f>', 'DNN confidence a face needs', numArg('--min-score', 0.05, 0.999), 0.75);
}

function poolOptions(flags: DetectionFlags & { detector: DetectorName }): PoolOptions {
  return {
    detector: flags.detector,
    minScore: flags.minScore,
    thresholds: { minInside: flags.minInside, minFaceWidth: flags.minFace, maxFaceWidth: flags.maxFace, minOtherFace: flags.minOtherFace },
  };
}

async function serve(flags: ServeFlags & DetectionFlags): Promise<number> {
  const log = createLogger({ level: flags.logLevel, file: flags.logFile, name: 'vigil' });
  let pool: DetectorPool | null = null;
  if (flags.detector !== 'none') {
    try {
      // VIGIL_DETECTOR_WORKER swaps the detector process's module (tests run a stand-in that crashes or hangs).
      const workerPath = process.env['VIGIL_DETECTOR_WORKER'];
      pool = await DetectorPool.start({ ...poolOptions({ ...flags, detector: flags.detector }), log: log.child({ part: 'detect' }), ...(workerPath ? { workerPath } : {}) });
      log.info({ detector: flags.detector, processes: pool.size, analyzeFps: flags.analyzeFps }, 'face detection ready');
    } catch (err) {
      if (!(err instanceof DetectError)) throw err;
      process.stderr.write(`vigil serve: face detection could not start: ${err.message} (pass --detector none to run without it)\n`);
      log.error({ code: err.code }, err.message);
      await flushLogger(log);
      return 1;
    }
  }
  let secret: Uint8Array | undefined;
  if (flags.auth === 'tokens') {
    const file = flags.secretFile ?? path.join(flags.recordDir, 'vigil.secret');
    try {
      secret = await loadSecret(file);
    } catch (err) {
      await pool?.close();
      if (!(err instanceof AuthError)) throw err;
      process.stderr.write(`vigil serve: ${err.message}\n`);
      return 1;
    }
    log.info({ secretFile: path.resolve(file) }, 'token auth: issue tokens with `vigil token issue --id ID --secret-file FILE`');
  }
  let tlsFiles: { cert: Buffer; key: Buffer } | undefined;
  if (flags.tlsCert || flags.tlsKey) {
    if (!flags.tlsCert || !flags.tlsKey) {
      process.stderr.write('vigil serve: TLS needs both --tls-cert and --tls-key\n');
      await pool?.close();
      return 2;
    }
    try {
      tlsFiles = { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) };
    } catch (err) {
      process.stderr.write(`vigil serve: cannot read the TLS files: ${(err as Error).message}\n`);
      await pool?.close();
      return 2;
    }
  } else if (!isLoopback(flags.host)) {
    process.stderr.write(`vigil serve: warning: listening on ${flags.host} without TLS; candidates' media and tokens cross the network in clear\n`);
  }
  const server = new VigilServer({
    host: flags.host,
    port: flags.port,
    recordDir: flags.recordDir,
    adminSocket: flags.adminSocket ?? path.join(flags.recordDir, 'vigil.sock'),
    auth: flags.auth,
    ...(secret ? { secret } : {}),
    ...(tlsFiles ? { tls: tlsFiles } : {}),
    logger: log,
    version: VERSION,
    handshakeTimeoutMs: flags.handshakeTimeout * 1000,
    idleTimeoutMs: flags.idleTimeout * 1000,
    limits: { video: flags.maxVideoBytes, audio: flags.maxAudioBytes },
    maxCandidates: flags.maxCandidates,
    resumeWindowMs: flags.resumeWindow * 1000,
    maxPendingPerAddress: flags.maxPendingPerIp,
    maxMessagesPerSecond: flags.maxMsgRate,
    drainTimeoutMs: flags.drainTimeout * 1000,
    analyzer: pool,
    analyzeFps: flags.analyzeFps,
    incidentAfterS: flags.incidentAfter,
    speechAfterS: flags.speechAfter,
  });
  onCrash({
    report: (kind, err) => log.fatal({ kind, err }, `internal error (${kind})`),
    cleanup: async () => {
      await server.close();
      await pool?.close();
      await flushLogger(log);
    },
  });
  const { signal, dispose } = onceInterrupted();
  try {
    await server.listen();
  } catch (err) {
    dispose();
    await pool?.close();
    if (err instanceof ServerError || err instanceof AdminSocketError) {
      process.stderr.write(`vigil serve: ${err.message}\n`);
      log.error({ code: err.code }, err.message);
      await flushLogger(log);
      return 1;
    }
    throw err;
  }
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  log.info({ signal: String(signal.reason) }, 'signal received');
  await server.close();
  await pool?.close();
  dispose();
  await flushLogger(log);
  return 0;
}

interface ClientFlags {
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
}

async function client(flags: ClientFlags): Promise<number> {
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

export function buildProgram(run: (p: Promise<number>) => void): Command {
  const program = new Command('vigil')
    .description('Proctoring for online exams: candidates stream camera and microphone; the server watches and records.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('serve')
    .description('run the proctoring server: accept candidates, record them, serve the admin socket')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'TCP port for candidates (0 picks a free one)', intArg('--port', 0, 65535), DEFAULT_PORT)
    .option('--record-dir <dir>', 'where recordings are written', DEFAULT_RECORD_DIR)
    .option('--admin-socket <path>', 'admin socket for status and the console (default: <record-dir>/vigil.sock)')
    .addOption(new Option('--auth <mode>', 'tokens: each candidate needs a token from `vigil token issue`; none: anyone may connect (local use)').choices(['tokens', 'none']).default('tokens'))
    .option('--secret-file <file>', 'token signing secret, created (mode 0600) if absent (default: <record-dir>/vigil.secret)')
    .option('--tls-cert <file>', 'PEM certificate: candidates connect with TLS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--log-file <file>', 'write JSON logs here instead of stderr')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .option('--handshake-timeout <s>', 'seconds a new connection has to send HELLO', numArg('--handshake-timeout', 0.1, 300), 5)
    .option('--idle-timeout <s>', 'seconds of silence before a candidate is dropped', numArg('--idle-timeout', 1, 3600), 10)
    .option('--speech-after <s>', 'seconds of speech (or of quiet after it) that open (or close) a speech incident', numArg('--speech-after', 0, 60), 1.0)
    .option('--resume-window <s>', 'seconds a candidate whose connection died may resume the same session (0: never)', numArg('--resume-window', 0, 3600), 30)
    .option('--max-candidates <n>', 'candidates at once; more are refused (server_full)', intArg('--max-candidates', 1, 100000), 200)
    .option('--max-pending-per-ip <n>', 'connections from one address still in their handshake', intArg('--max-pending-per-ip', 1, 100000), 16)
    .option('--max-msg-rate <n>', 'messages per second per candidate (bursts of twice that pass)', intArg('--max-msg-rate', 10, 100000), 300)
    .option('--drain-timeout <s>', 'seconds a candidate may leave replies unread', numArg('--drain-timeout', 0.5, 3600), 10)
    .option('--analyze-fps <n>', 'face analyses per second per candidate (latest frame wins)', numArg('--analyze-fps', 0.1, 60), 5)
    .option('--max-video-bytes <n>', 'largest VIDEO_FRAME payload accepted', intArg('--max-video-bytes', 1024, ABSOLUTE_MAX_PAYLOAD), DEFAULT_LIMITS.video)
    .option('--max-audio-bytes <n>', 'largest AUDIO_CHUNK payload accepted', intArg('--max-audio-bytes', 1024, ABSOLUTE_MAX_PAYLOAD), DEFAULT_LIMITS.audio)
    .action((flags: ServeFlags & DetectionFlags) => run(serve(flags)));
  addDetectionOptions(program.commands.find((c) => c.name() === 'serve')!, true);

  program
    .command('client')
    .description('stream a candidate\'s video and audio to a server')
    .option('--server <host:port>', 'server to connect to', hostPort, hostPort(`127.0.0.1:${DEFAULT_PORT}`))
    .requiredOption('--id <candidate>', 'candidate id (letters, digits, . _ -)')
    .option('--token <token>', 'access token from the proctor', '')
    .option('--tls', 'connect with TLS, trusting the system\'s certificate store', false)
    .option('--tls-ca <file>', 'connect with TLS, trusting this PEM certificate (a self-signed server)')
    .option('--video <file|camera[:N]|none>', 'a video file (mp4, avi, mkv, ...) or a webcam (/dev/videoN through V4L2)', 'none')
    .option('--audio <file.wav|mic[:DEVICE]|none>', 'a 16-bit PCM WAV, or the microphone (16 kHz mono; DEVICE from `vigil devices`)', 'none')
    .option('--width <px>', 'frame width sent', intArg('--width', 16, 4096), 640)
    .option('--height <px>', 'frame height sent', intArg('--height', 16, 4096), 480)
    .option('--fps <n>', 'frames per second sent (default: the file\'s)', numArg('--fps', 0.5, 120))
    .option('--quality <1-100>', 'JPEG quality', intArg('--quality', 1, 100), 80)
    .option('--loop', 'start the files again when they end, until stopped', false)
    .option('--reconnect <s>', 'keep reconnecting this long after losing the server (0: exit at once)', numArg('--reconnect', 0, 86400), 60)
    .option('--buffer <s>', 'seconds of media kept to resend after a reconnect', numArg('--buffer', 0, 120), 10)
    .action((flags: ClientFlags) => run(client(flags)));

  program
    .command('token')
    .description('candidate access tokens')
    .command('issue')
    .description('print a token for one candidate, signed with the server\'s secret')
    .requiredOption('--id <candidate>', 'the candidate the token is for')
    .option('--ttl <duration>', 'how long it is valid: 90s, 30m, 4h, 2d', '4h')
    .option('--secret-file <file>', 'the server\'s secret', path.join(DEFAULT_RECORD_DIR, 'vigil.secret'))
    .action((flags: { id: string; ttl: string; secretFile: string }) =>
      run(
        (async () => {
          const problem = candidateIdProblem(flags.id);
          if (problem) throw new AuthError('VIGIL_ERR_TTL', `invalid candidate id ${JSON.stringify(flags.id)}: ${problem}`);
          const ttl = parseTtl(flags.ttl);
          const secret = await loadSecret(flags.secretFile, false);
          process.stdout.write((await issueToken(secret, flags.id, ttl)) + '\n');
          return 0;
        })().catch(expected('token', 2, AuthError)),
      ),
    );

  const detect = program
    .command('detect')
    .description('run face detection over a video file, every frame, as the server would')
    .argument('<file>', 'video file (mp4, avi, mkv, ...)')
    .option('--json', 'one JSON line per frame: {"frame","t","verdict","faces":[{x,y,w,h,score}]}', false)
    .option('--analyze-fps <n>', 'analyses per second (default: every frame)', numArg('--analyze-fps', 0.1, 120));
  addDetectionOptions(detect, false).action((file: string, flags: DetectionFlags & { detector: DetectorName; json: boolean; analyzeFps?: number }) =>
    run(
      runDetect({
        file,
        json: flags.json,
        pool: poolOptions(flags),
        incidentAfterS: flags.incidentAfter,
        out: process.stdout,
        err: process.stderr,
        ...(flags.analyzeFps ? { analyzeFps: flags.analyzeFps } : {}),
      }).catch(expected('detect', 1, DetectError)),
    ),
  );

  program
    .command('listen')
    .description('play a connected candidate\'s live audio on this machine\'s speakers (Ctrl-C stops)')
    .argument('<id>', 'the candidate')
    .option('--admin-socket <path>', 'admin socket of the server', path.join(DEFAULT_RECORD_DIR, 'vigil.sock'))
    .action((id: string, flags: { adminSocket: string }) => {
      const { signal, dispose } = onceInterrupted();
      run(
        runListen({ id, adminSocket: flags.adminSocket, signal, err: process.stderr })
          .catch(expected('listen', 1, AdminClientError))
          .finally(dispose),
      );
    });

  program
    .command('devices')
    .description('list the audio inputs (for --audio mic:DEVICE) and cameras')
    .action(() =>
      run(
        (async () => {
          const inputs = await listAudioInputs();
          process.stdout.write(inputs.length ? 'audio inputs:\n' + inputs.map((d) => `  mic:${d.id}  ${d.name}  (${d.channels} ch, ${d.rate} Hz, ${d.host})`).join('\n') + '\n' : 'audio inputs: none\n');
          const cams = readdirSync('/dev').filter((f) => /^video\d+$/.test(f));
          process.stdout.write(cams.length ? 'cameras:\n' + cams.map((c) => `  /dev/${c}`).join('\n') + '\n' : 'cameras: none (no /dev/video*)\n');
          return 0;
        })().catch(expected('devices', 1, MediaProbeError)),
      ),
    );

  program
    .command('console')
    .description('the proctor\'s keyboard console: live candidates, events, preview, mode switch, kick')
    .option('--admin-socket <path>', 'admin socket of the server', path.join(DEFAULT_RECORD_DIR, 'vigil.sock'))
    .action((flags: { adminSocket: string }) => {
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        process.stderr.write('vigil console: needs a terminal; for scripts use `vigil status --json` or `vigil status --watch`\n');
        run(Promise.resolve(2));
        return;
      }
      run(
        runConsole({ adminSocket: flags.adminSocket }).catch(expected('console', 1, AdminClientError)),
      );
    });

  program
    .command('status')
    .description('print every connected candidate (for scripts: --json)')
    .option('--admin-socket <path>', 'admin socket of the server', path.join(DEFAULT_RECORD_DIR, 'vigil.sock'))
    .option('--json', 'print {"candidates":[...]} as JSON', false)
    .option('--watch [seconds]', 'refresh until Ctrl-C (default every 1 s)')
    .action((flags: { adminSocket: string; json: boolean; watch?: string | true }) => {
      const watch = flags.watch === undefined ? undefined : flags.watch === true ? 1 : numArg('--watch', 0.1, 3600)(flags.watch);
      const { signal, dispose } = onceInterrupted();
      run(
        runStatus({ adminSocket: flags.adminSocket, json: flags.json, out: process.stdout, signal, ...(watch ? { watch } : {}) })
          .catch(expected('status', 1, AdminClientError))
          .finally(dispose),
      );
    });

  return program;
}

/** Entry point for bin/vigil: parses argv, runs one subcommand, resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  installCrashHandlers();
  let pending: Promise<number> | null = null;
  const program = buildProgram((p) => {
    pending = p;
  });
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return typeof code === 'number' ? (code === 0 ? 0 : 2) : 1;
  }
  return pending ?? 0;
}
