import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { DetectorConfig } from './analyze';
import { backoffMs, SILENT_LOG, type DetectorHealth, type PoolLog } from './health';
import { DetectError, type FaceBox, type FrameResult } from './types';
import type { GateLimits, GatedAnalysis, Thumbnail } from './motion-gate';
import type { WorkerReply, WorkerRequest } from './worker';

/** A request as the caller makes it; the pool adds the id. */
type JobRequest = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;
type JobAnswer = Extract<WorkerReply, { ok: true }>;

export interface PoolOptions extends DetectorConfig {
  /** Detector processes; default one per core. */
  size?: number;
  /** A frame not analysed within this long fails, and its process is replaced. Default 5000. */
  jobTimeoutMs?: number;
  /** Time allowed for a process to load OpenCV and the model. Default 30000. */
  startTimeoutMs?: number;
  /** Frames waiting beyond this many are refused at once rather than queued. Default 1024. */
  maxQueue?: number;
  /** Failures in a row (deaths, hangs, failed restarts, no frame analysed in between) that mean detection is down. Default 3. */
  maxConsecutiveFailures?: number;
  /** First retry delay once down; doubled per failed retry. Default 500. */
  retryBaseMs?: number;
  /** Longest retry delay. Default 30000. */
  retryMaxMs?: number;
  /** The detector process's module; default the real worker. Tests pass a fixture that speaks the same IPC. */
  workerPath?: string;
  log?: PoolLog;
}

interface Job {
  id: number;
  request: JobRequest;
  resolve: (r: JobAnswer) => void;
  reject: (e: Error) => void;
}

interface Slot {
  proc: ChildProcess;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

/**
 * `up`: frames are queued for the live processes (a replacement for a dead one may still be loading).
 * `down`: failures in a row reached the limit; frames are refused at once, except when a restarted process
 * is idle and may prove itself on one. A retry timer restarts one process at a time, with backoff.
 */
type PoolState =
  | { kind: 'starting' }
  | { kind: 'up' }
  | { kind: 'down'; reason: string; since: Date; attempt: number; retry: NodeJS.Timeout | null; retryAt: number | null }
  | { kind: 'closed' };

const WORKER = path.join(__dirname, 'worker.js');
const mismatch = (): DetectError => new DetectError('VIGIL_ERR_DETECTOR_CRASH', 'the detector process answered a different kind of request');

/**
 * A pool of detector processes. Frames go to whichever process is free; the caller bounds what it submits
 * (the server's latest-frame slot keeps at most one frame per candidate in flight). The pool knows nothing of
 * who is listening: its health goes to `onHealth` subscribers.
 */
export class DetectorPool {
  private readonly slots = new Set<Slot>();
  /** Every process not yet exited, loading, live or retired, so that close() can end them all. */
  private readonly procs = new Set<ChildProcess>();
  private readonly queue: Job[] = [];
  private readonly healthListeners = new Set<(h: DetectorHealth) => void>();
  private nextId = 1;
  private spawning = 0;
  private failures = 0;
  private state: PoolState = { kind: 'starting' };
  private readonly log: PoolLog;
  private readonly opts: Required<Pick<PoolOptions, 'size' | 'jobTimeoutMs' | 'startTimeoutMs' | 'maxQueue' | 'maxConsecutiveFailures' | 'retryBaseMs' | 'retryMaxMs' | 'workerPath'>> &
    PoolOptions;

  private constructor(opts: PoolOptions) {
    this.opts = {
      size: opts.size ?? availableParallelism(),
      jobTimeoutMs: opts.jobTimeoutMs ?? 5_000,
      startTimeoutMs: opts.startTimeoutMs ?? 30_000,
      maxQueue: opts.maxQueue ?? 1024,
      maxConsecutiveFailures: opts.maxConsecutiveFailures ?? 3,
      retryBaseMs: opts.retryBaseMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 30_000,
      workerPath: opts.workerPath ?? WORKER,
      ...opts,
    };
    this.log = opts.log ?? SILENT_LOG;
  }

  /** Starts every process and waits until each has loaded its model; fails with the process's own reason. */
  static async start(opts: PoolOptions): Promise<DetectorPool> {
    const pool = new DetectorPool(opts);
    try {
      await Promise.all(Array.from({ length: pool.opts.size }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    pool.state = { kind: 'up' };
    // A process that died while the others were still loading is replaced now.
    pool.replenish();
    return pool;
  }

  get size(): number {
    return this.opts.size;
  }

  /** Process ids of the detector processes in the pool (loading ones and hung ones on their way out excluded). */
  get pids(): number[] {
    return [...this.slots].map((s) => s.proc.pid!).filter(Boolean);
  }

  get health(): DetectorHealth {
    const s = this.state;
    if (s.kind !== 'down') return { up: true };
    return { up: false, reason: s.reason, since: s.since, retryInMs: s.retryAt === null ? null : Math.max(0, s.retryAt - Date.now()) };
  }

  /** Calls `listener` on every change between up and down; returns the unsubscribe function. */
  onHealth(listener: (h: DetectorHealth) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  private spawn(): Promise<void> {
    const config: DetectorConfig = {
      detector: this.opts.detector,
      thresholds: this.opts.thresholds,
      ...(this.opts.minScore !== undefined ? { minScore: this.opts.minScore } : {}),
      ...(this.opts.haar ? { haar: this.opts.haar } : {}),
    };
    // 'advanced' serialization sends Buffers as bytes, not as JSON arrays of numbers.
    const proc = fork(this.opts.workerPath, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, VIGIL_DETECTOR_CONFIG: JSON.stringify(config), OPENCV4NODEJS_DISABLE_AUTOBUILD: '1' },
    });
    this.procs.add(proc);
    this.spawning++;
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const lastLine = (): string => stderr.trim().split('\n').pop() ?? '';
    const slot: Slot = { proc, job: null, timer: null };
    return new Promise<void>((resolve, reject) => {
      let loading = true;
      const loaded = (err: DetectError | null): void => {
        if (!loading) return;
        loading = false;
        clearTimeout(startTimer);
        this.spawning--;
        if (err) {
          reject(err);
          return;
        }
        this.slots.add(slot);
        resolve();
        this.dispatch();
      };
      const startTimer = setTimeout(() => {
        proc.kill('SIGKILL');
        loaded(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `the ${config.detector} detector did not start within ${this.opts.startTimeoutMs} ms`));
      }, this.opts.startTimeoutMs);
      proc.on('message', (msg: WorkerReply) => {
        if ('type' in msg) {
          if (msg.type === 'ready') loaded(null);
          else loaded(new DetectError('VIGIL_ERR_DETECTOR_LOAD', msg.message));
          return;
        }
        this.finish(slot, msg);
      });
      proc.on('error', (err) => loaded(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `cannot start a detector process: ${err.message}`)));
      proc.on('exit', (code, signal) => {
        this.procs.delete(proc);
        if (loading) {
          loaded(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `the detector process exited (${signal ?? code}) while loading: ${lastLine()}`));
          return;
        }
        // A process that failed to load, or was retired as hung, has been accounted for already.
        if (this.slots.has(slot)) this.onExit(slot, `${signal ?? `exit ${code}`}${stderr ? `: ${lastLine()}` : ''}`);
      });
    });
  }

  /** Starts a process after the pool has started; a failure to load counts against the pool's health. */
  private respawn(): void {
    this.spawn().then(
      () => this.log.info({ pid: [...this.slots].at(-1)?.proc.pid, state: this.state.kind }, 'detector process restarted'),
      (err: DetectError) => {
        if (this.state.kind === 'closed') return;
        this.log.error({ code: err.code, failures: this.failures + 1 }, `detector process could not be restarted: ${err.message}`);
        this.failed(`a restarted detector process failed to load: ${err.message}`);
      },
    );
  }

  private onExit(slot: Slot, why: string): void {
    if (slot.timer) clearTimeout(slot.timer);
    if (this.state.kind === 'closed') return;
    this.slots.delete(slot);
    const job = slot.job;
    slot.job = null;
    job?.reject(new DetectError('VIGIL_ERR_DETECTOR_CRASH', `the detector process died (${why})`));
    this.log.error({ pid: slot.proc.pid, failures: this.failures + 1 }, `detector process died (${why})`);
    this.failed(`the detector process died (${why})`);
  }

  /** One more failure in a row: replace the process, or, past the limit, go down and retry with backoff. */
  private failed(reason: string): void {
    const s = this.state;
    if (s.kind === 'closed' || s.kind === 'starting') return;
    this.failures++;
    if (s.kind === 'down') {
      s.reason = reason;
      this.scheduleRetry();
      return;
    }
    if (this.failures < this.opts.maxConsecutiveFailures) {
      this.replenish();
      return;
    }
    this.state = { kind: 'down', reason, since: new Date(), attempt: 0, retry: null, retryAt: null };
    for (const job of this.queue.splice(0)) job.reject(this.downError());
    this.log.error({ failures: this.failures }, `face detection is down: ${reason}`);
    this.scheduleRetry();
    this.emitHealth();
  }

  private replenish(): void {
    for (let n = this.slots.size + this.spawning; n < this.opts.size; n++) this.respawn();
  }

  /** While down, one process at a time is tried, each after a longer wait. */
  private scheduleRetry(): void {
    const s = this.state;
    if (s.kind !== 'down' || s.retry || this.slots.size + this.spawning > 0) return;
    const delay = backoffMs(s.attempt, this.opts.retryBaseMs, this.opts.retryMaxMs);
    s.retryAt = Date.now() + delay;
    s.retry = setTimeout(() => {
      s.retry = null;
      s.retryAt = null;
      s.attempt++;
      if (this.state !== s) return;
      this.log.info({ attempt: s.attempt, afterMs: delay }, 'retrying face detection: starting a detector process');
      this.respawn();
    }, delay);
  }

  private emitHealth(): void {
    const h = this.health;
    for (const l of this.healthListeners) l(h);
  }

  private downError(): DetectError {
    const s = this.state;
    return new DetectError('VIGIL_ERR_DETECTOR_DOWN', `face detection is unavailable: ${s.kind === 'down' ? s.reason : 'the detector pool is not running'}`);
  }

  private finish(slot: Slot, msg: Exclude<WorkerReply, { type: string }>): void {
    const job = slot.job;
    if (!job || job.id !== msg.id) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    if (msg.ok) {
      this.failures = 0;
      job.resolve(msg);
      if (this.state.kind === 'down') this.recovered();
    } else {
      job.reject(new DetectError(msg.code === 'VIGIL_ERR_IMAGE_DECODE' ? 'VIGIL_ERR_IMAGE_DECODE' : 'VIGIL_ERR_DETECTOR_CRASH', msg.message));
    }
    this.dispatch();
  }

  /** A restarted process analysed a frame: detection is back, and the rest of the pool is started. */
  private recovered(): void {
    const s = this.state;
    if (s.kind !== 'down') return;
    if (s.retry) clearTimeout(s.retry);
    this.state = { kind: 'up' };
    this.log.info({ downForMs: Date.now() - s.since.getTime() }, 'face detection is back');
    this.replenish();
    this.emitHealth();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.timer = setTimeout(() => this.hung(slot, job), this.opts.jobTimeoutMs);
      const req: WorkerRequest = { ...job.request, id: job.id };
      slot.proc.send(req);
    }
  }

  /** A frame that hangs the detector costs that process, not the server: out of the pool now, killed, replaced. */
  private hung(slot: Slot, job: Job): void {
    slot.timer = null;
    slot.job = null;
    this.slots.delete(slot);
    slot.proc.kill('SIGKILL');
    const why = `no result within ${this.opts.jobTimeoutMs} ms`;
    job.reject(new DetectError('VIGIL_ERR_DETECTOR_TIMEOUT', why));
    this.log.error({ pid: slot.proc.pid, failures: this.failures + 1 }, `detector process hung (${why}); killed`);
    this.failed(`the detector process hung (${why})`);
    this.dispatch();
  }

  /** Analyses one JPEG in a detector process; refused at once while detection is down or the queue is full. */
  analyze(jpeg: Buffer): Promise<FrameResult> {
    return this.submit({ kind: 'full', jpeg }).then((a) => (a.kind === 'full' ? a.result : Promise.reject(mismatch())));
  }

  /**
   * Analyses one JPEG unless its thumbnail differs from `reference` by at most `limits` (motion-gate.ts); with
   * `lastFace` (the one face of the analysis `reference` comes from), a changed frame first gets the quick check.
   * `likelyStill` (the candidate's last frame was gated) makes the detector look at the thumbnail before decoding for the models.
   */
  analyzeUnlessStill(jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits, lastFace: FaceBox | null = null, likelyStill = false): Promise<GatedAnalysis> {
    const request: JobRequest = reference && lastFace ? { kind: 'quick', jpeg, reference, limits, lastFace, likelyStill } : { kind: 'gated', jpeg, reference, limits, likelyStill };
    return this.submit(request).then((a) => (a.kind === 'gated' ? a.analysis : Promise.reject(mismatch())));
  }

  private submit(request: JobRequest): Promise<JobAnswer> {
    const s = this.state;
    if (s.kind === 'closed') return Promise.reject(new DetectError('VIGIL_ERR_DETECTOR_CLOSED', 'the detector pool is closed'));
    if (s.kind === 'down') {
      // Only a restarted process that is idle takes a frame: the frame that shows whether it works now.
      const idle = [...this.slots].filter((slot) => !slot.job).length;
      if (this.queue.length >= idle) return Promise.reject(this.downError());
    }
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new DetectError('VIGIL_ERR_DETECTOR_TIMEOUT', `${this.queue.length} frames already wait for analysis`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every process (loading and hung ones too); pending frames fail with VIGIL_ERR_DETECTOR_CLOSED. Idempotent. */
  async close(): Promise<void> {
    const s = this.state;
    if (s.kind === 'down' && s.retry) clearTimeout(s.retry);
    this.state = { kind: 'closed' };
    const closedError = (): DetectError => new DetectError('VIGIL_ERR_DETECTOR_CLOSED', 'the detector pool is closed');
    for (const job of this.queue.splice(0)) job.reject(closedError());
    for (const slot of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.job?.reject(closedError());
      slot.job = null;
    }
    this.slots.clear();
    this.healthListeners.clear();
    const exits = [...this.procs].map(
      (proc) =>
        new Promise<void>((resolve) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
          proc.once('exit', () => resolve());
          proc.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }
}
