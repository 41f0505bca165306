// `vigil serve`: turns the serve flags into a detector pool, secret, TLS files and a VigilServer, and runs it until a signal.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminSocketError, AuthError, ServerError, VigilServer, WebListener, isLoopback, loadSecret } from '../server';
import { DetectError, DetectorPool } from '../detect';
import { onCrash } from './crash';
import { createLogger, flushLogger } from './logger';
import { VERSION, onceInterrupted, poolOptions, type DetectionFlags } from './options';

export interface ServeFlags {
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
  webPort?: number;
  webOrigin?: string[];
}

/** The candidate page, built by `make` into dist/web (see src/web). */
const PAGE_DIR = path.resolve(__dirname, '..', '..', 'web');

export async function serve(flags: ServeFlags & DetectionFlags): Promise<number> {
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
  let web: WebListener | null = null;
  let listening = false;
  try {
    await server.listen();
    listening = true;
    if (flags.webPort !== undefined) {
      const page = existsSync(path.join(PAGE_DIR, 'index.html')) ? PAGE_DIR : null;
      if (!page) log.warn({ dir: PAGE_DIR }, 'the candidate page is not built (run make); serving only its WebSocket');
      web = new WebListener({
        host: flags.host,
        port: flags.webPort,
        tls: tlsFiles ?? null,
        staticDir: page,
        maxPayload: Math.max(flags.maxVideoBytes, flags.maxAudioBytes),
        allowedOrigins: flags.webOrigin ?? [],
        headersTimeoutMs: flags.handshakeTimeout * 1000,
        log: log.child({ part: 'web' }),
        accept: (socket) => server.acceptSocket(socket),
        refuse: (address, reason, message) => server.refused(address, reason, message),
      });
      await web.listen();
    }
  } catch (err) {
    dispose();
    if (listening) await server.close();
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
  await web?.close();
  await pool?.close();
  dispose();
  await flushLogger(log);
  return 0;
}
