// `vigil serve`: turns the serve flags into a detector pool, secret, TLS files and a VigilServer, and runs it until a signal.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminSocketError, AuthError, ServerError, VigilServer, isLoopback, loadSecret, type WebListener } from '../server';
import { DetectError, DetectorPool } from '../detect';
import { onCrash } from './crash';
import { createLogger, flushLogger } from './logger';
import { VERSION, onceInterrupted, poolOptions, type DetectionFlags } from './options';
import { clusterFlagsProblem, clusterFor, type ClusterFlags } from './serve-cluster';
import { startWebListener, type WebFlags } from './serve-web';

export interface ServeFlags extends WebFlags {
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

export async function serve(flags: ServeFlags & DetectionFlags & ClusterFlags): Promise<number> {
  const clusterProblem = clusterFlagsProblem(flags);
  if (clusterProblem) {
    process.stderr.write(`vigil serve: ${clusterProblem}\n`);
    return 2;
  }
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
  const cluster = clusterFor(flags, VERSION, log);
  const server = new VigilServer({
    ...(cluster ? { sessions: cluster.sessions } : {}),
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
  let address: { host: string; port: number };
  let web: WebListener | null = null;
  let listening = false;
  try {
    address = await server.listen();
    listening = true;
    if (flags.webPort !== undefined) web = await startWebListener({ ...flags, webPort: flags.webPort }, server, tlsFiles ?? null, log);
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
  const node = cluster?.start(server, `${address.host}:${address.port}`);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  log.info({ signal: String(signal.reason) }, 'signal received');
  // Sessions are finalised (and left in the table for other nodes) while the bus is still there; then the node leaves.
  await server.close();
  await web?.close();
  await node?.close();
  await pool?.close();
  dispose();
  await flushLogger(log);
  return 0;
}
