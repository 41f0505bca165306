import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { AdminClientError } from '../admin/client';
import { hasPortAudio, listAudioInputs } from '../media/mic';
import { MediaProbeError } from '../media/probe';
import { ABSOLUTE_MAX_PAYLOAD, DEFAULT_LIMITS } from '../protocol';
import { AuthError, candidateIdProblem, candidateLink, candidateLinkBase, issueToken, loadSecret, parseTtl } from '../server';
import { DetectError, type DetectorName } from '../detect';
import { runConsole } from '../tui/console';
import { runDetect } from './detect';
import { runListen } from './listen';
import { installCrashHandlers } from './crash';
import { runStatus } from './status';
import { runClusterStatus } from './status-cluster';
import { NatsAdminClient } from '../cluster/remote-admin';
import { client, type ClientFlags } from './client-command';
import { DEFAULT_PORT, DEFAULT_RECORD_DIR, VERSION, addDetectionOptions, expected, hostPort, intArg, numArg, onceInterrupted, poolOptions, type DetectionFlags } from './options';
import { serve, type ServeFlags } from './serve';
import { addReportCommand } from './report';
import type { ClusterFlags } from './serve-cluster';

export function buildProgram(run: (p: Promise<number>) => void): Command {
  const program = new Command('vigil')
    .description('Proctoring for online exams: candidates stream camera and microphone; the server watches and records.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // Set before any subcommand exists, so every one inherits it: usage errors reach main() and exit 2.
    .exitOverride()
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
    .option('--nats <url>', 'join a cluster on this NATS server (nats://host:4222)')
    .option('--node <name>', 'this node\'s name in the cluster (default: the host name)')
    .option('--exam <name>', 'exam name in the cluster\'s event subjects (default: default)')
    .option('--web-port <n>', 'also serve the candidate page and its WebSocket on this port (HTTPS with --tls-cert)', intArg('--web-port', 0, 65535))
    .option('--web-origin <origin...>', 'other origins whose pages may open the WebSocket (the page\'s own always may)')
    .action((flags: ServeFlags & DetectionFlags & ClusterFlags) => run(serve(flags)));
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
    .addOption(new Option('--codec <codec>', 'h264: H.264 + Opus (protocol 2); mjpeg: JPEG + PCM (protocol 1, --quality applies)').choices(['h264', 'mjpeg']).default('h264'))
    .action((flags: ClientFlags) => run(client(flags)));

  program
    .command('token')
    .description('candidate access tokens')
    .command('issue')
    .description('print a token for one candidate, signed with the server\'s secret')
    .requiredOption('--id <candidate>', 'the candidate the token is for')
    .option('--ttl <duration>', 'how long it is valid: 90s, 30m, 4h, 2d', '4h')
    .option('--secret-file <file>', 'the server\'s secret', path.join(DEFAULT_RECORD_DIR, 'vigil.secret'))
    .option('--url <base>', 'also print the candidate\'s link to the page of `serve --web-port` (e.g. https://exam.example.org:8443/)')
    .action((flags: { id: string; ttl: string; secretFile: string; url?: string }) =>
      run(
        (async () => {
          const problem = candidateIdProblem(flags.id);
          if (problem) throw new AuthError('VIGIL_ERR_TTL', `invalid candidate id ${JSON.stringify(flags.id)}: ${problem}`);
          const ttl = parseTtl(flags.ttl);
          const base = flags.url === undefined ? null : candidateLinkBase(flags.url);
          const secret = await loadSecret(flags.secretFile, false);
          const token = await issueToken(secret, flags.id, ttl);
          process.stdout.write(token + '\n');
          if (base) process.stdout.write(candidateLink(base, flags.id, token) + '\n');
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
    .option('--nats <url>', 'find the candidate on any node of this NATS cluster instead')
    .action((id: string, flags: { adminSocket: string; nats?: string }) => {
      const { signal, dispose } = onceInterrupted();
      run(
        runListen({ id, adminSocket: flags.adminSocket, signal, err: process.stderr, ...(flags.nats ? { connect: () => NatsAdminClient.connect(flags.nats!) } : {}) })
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
          if (!hasPortAudio()) process.stdout.write('audio inputs: naudiodon is not installed; --audio mic reads the system default through ffmpeg (mic:NAME for another)\n');
          else process.stdout.write(inputs.length ? 'audio inputs:\n' + inputs.map((d) => `  mic:${d.id}  ${d.name}  (${d.channels} ch, ${d.rate} Hz, ${d.host})`).join('\n') + '\n' : 'audio inputs: none\n');
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
    .option('--nats <url>', 'every node of this NATS cluster instead of one admin socket')
    .action((flags: { adminSocket: string; nats?: string }) => {
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        process.stderr.write('vigil console: needs a terminal; for scripts use `vigil status --json` or `vigil status --watch`\n');
        run(Promise.resolve(2));
        return;
      }
      run(
        runConsole({ adminSocket: flags.adminSocket, ...(flags.nats ? { connect: () => NatsAdminClient.connect(flags.nats!) } : {}) }).catch(expected('console', 1, AdminClientError)),
      );
    });

  program
    .command('status')
    .description('print every connected candidate (for scripts: --json)')
    .option('--admin-socket <path>', 'admin socket of the server', path.join(DEFAULT_RECORD_DIR, 'vigil.sock'))
    .option('--json', 'print {"candidates":[...]} as JSON', false)
    .option('--watch [seconds]', 'refresh until Ctrl-C (default every 1 s)')
    .option('--nats <url>', 'every candidate of every live node of this NATS cluster (with its node)')
    .action((flags: { adminSocket: string; json: boolean; watch?: string | true; nats?: string }) => {
      if (flags.nats && flags.watch !== undefined) {
        process.stderr.write('vigil status: --watch works on one admin socket; for the cluster use `vigil console --nats`\n');
        return run(Promise.resolve(2));
      }
      if (flags.nats) return run(runClusterStatus({ nats: flags.nats, json: flags.json, out: process.stdout }).catch(expected('status', 1, AdminClientError)));
      const watch = flags.watch === undefined ? undefined : flags.watch === true ? 1 : numArg('--watch', 0.1, 3600)(flags.watch);
      const { signal, dispose } = onceInterrupted();
      run(
        runStatus({ adminSocket: flags.adminSocket, json: flags.json, out: process.stdout, signal, ...(watch ? { watch } : {}) })
          .catch(expected('status', 1, AdminClientError))
          .finally(dispose),
      );
    });

  addReportCommand(program, run);
  return program;
}

/** Entry point for bin/vigil: parses argv, runs one subcommand, resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  installCrashHandlers();
  let pending: Promise<number> | null = null;
  const program = buildProgram((p) => {
    pending = p;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return typeof code === 'number' ? (code === 0 ? 0 : 2) : 1;
  }
  return pending ?? 0;
}
