import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { DetectorConfig } from './analyze';
import { DetectError, type FrameResult } from './types';
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

const WORKER = path.join(__dirname, 'worker.js');
const mismatch = (): DetectError => new DetectError('VIGIL_ERR_DETECTOR_CRASH', 'the detector process answered a different kind of request');

/** More crashes than this within a minute stop the pool from respawning: something is broken, not unlucky. */
const MAX_CRASHES_PER_MINUTE = 10;

/**
 * A pool of detector processes. Frames go to whichever process is free; the caller bounds what it submits
 * (the server's latest-frame slot keeps at most one frame per candidate in flight).
 */
export class DetectorPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private crashes: number[] = [];
  private readonly opts: Required<Pick<PoolOptions, 'size' | 'jobTimeoutMs' | 'startTimeoutMs' | 'maxQueue'>> & PoolOptions;

  private constructor(opts: PoolOptions) {
    this.opts = {
      size: opts.size ?? availableParallelism(),
      jobTimeoutMs: opts.jobTimeoutMs ?? 5_000,
      startTimeoutMs: opts.startTimeoutMs ?? 30_000,
      maxQueue: opts.maxQueue ?? 1024,
      ...opts,
    };
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
    return pool;
  }

  get size(): number {
    return this.opts.size;
  }

  /** Process ids of the live detector processes (for status and tests). */
  get pids(): number[] {
    return [...this.slots].map((s) => s.proc.pid!).filter(Boolean);
  }

  private spawn(): Promise<void> {
    const config: DetectorConfig = {
      detector: this.opts.detector,
      thresholds: this.opts.thresholds,
      ...(this.opts.minScore !== undefined ? { minScore: this.opts.minScore } : {}),
      ...(this.opts.haar ? { haar: this.opts.haar } : {}),
    };
    // 'advanced' serialization sends Buffers as bytes, not as JSON arrays of numbers.
    const proc = fork(WORKER, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, VIGIL_DETECTOR_CONFIG: JSON.stringify(config), OPENCV4NODEJS_DISABLE_AUTOBUILD: '1' },
    });
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const slot: Slot = { proc, job: null, timer: null };
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const startTimer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `the ${config.detector} detector did not start within ${this.opts.startTimeoutMs} ms`));
      }, this.opts.startTimeoutMs);
      proc.on('message', (msg: WorkerReply) => {
        if ('type' in msg) {
          clearTimeout(startTimer);
          if (msg.type === 'ready') {
            ready = true;
            this.slots.add(slot);
            resolve();
            this.dispatch();
          } else {
            reject(new DetectError('VIGIL_ERR_DETECTOR_LOAD', msg.message));
          }
          return;
        }
        this.finish(slot, msg);
      });
      proc.on('error', (err) => {
        clearTimeout(startTimer);
        if (!ready) reject(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `cannot start a detector process: ${err.message}`));
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(startTimer);
        if (!ready) {
          reject(new DetectError('VIGIL_ERR_DETECTOR_LOAD', `the detector process exited (${signal ?? code}) while loading: ${stderr.trim().split('\n').pop() ?? ''}`));
          return;
        }
        this.onExit(slot, `${signal ?? `exit ${code}`}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`);
      });
    });
  }

  private onExit(slot: Slot, why: string): void {
    this.slots.delete(slot);
    if (slot.timer) clearTimeout(slot.timer);
    slot.job?.reject(new DetectError('VIGIL_ERR_DETECTOR_CRASH', `the detector process died (${why})`));
    slot.job = null;
    if (this.closed) return;
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < 60_000);
    this.crashes.push(now);
    if (this.crashes.length > MAX_CRASHES_PER_MINUTE) {
      for (const job of this.queue.splice(0)) job.reject(new DetectError('VIGIL_ERR_DETECTOR_CRASH', 'detector processes keep crashing; detection is off'));
      return;
    }
    this.spawn().catch(() => undefined);
  }

  private finish(slot: Slot, msg: Exclude<WorkerReply, { type: string }>): void {
    const job = slot.job;
    if (!job || job.id !== msg.id) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    if (msg.ok) job.resolve(msg);
    else job.reject(new DetectError(msg.code === 'VIGIL_ERR_IMAGE_DECODE' ? 'VIGIL_ERR_IMAGE_DECODE' : 'VIGIL_ERR_DETECTOR_CRASH', msg.message));
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.timer = setTimeout(() => {
        // A frame that hangs the detector costs that process, not the server: kill and replace it.
        slot.job = null;
        job.reject(new DetectError('VIGIL_ERR_DETECTOR_TIMEOUT', `no result within ${this.opts.jobTimeoutMs} ms`));
        slot.proc.kill('SIGKILL');
      }, this.opts.jobTimeoutMs);
      const req: WorkerRequest = { ...job.request, id: job.id };
      slot.proc.send(req);
    }
  }

  /** Analyses one JPEG in a detector process. */
  analyze(jpeg: Buffer): Promise<FrameResult> {
    return this.submit({ kind: 'full', jpeg }).then((a) => (a.kind === 'full' ? a.result : Promise.reject(mismatch())));
  }

  /** Analyses one JPEG unless its thumbnail differs from `reference` by at most `limits` (motion-gate.ts). */
  analyzeUnlessStill(jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits): Promise<GatedAnalysis> {
    return this.submit({ kind: 'gated', jpeg, reference, limits }).then((a) => (a.kind === 'gated' ? a.analysis : Promise.reject(mismatch())));
  }

  private submit(request: JobRequest): Promise<JobAnswer> {
    if (this.closed) return Promise.reject(new DetectError('VIGIL_ERR_DETECTOR_CLOSED', 'the detector pool is closed'));
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new DetectError('VIGIL_ERR_DETECTOR_TIMEOUT', `${this.queue.length} frames already wait for analysis`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every process; pending frames fail with VIGIL_ERR_DETECTOR_CLOSED. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new DetectError('VIGIL_ERR_DETECTOR_CLOSED', 'the detector pool is closed'));
    const exits = [...this.slots].map(
      (slot) =>
        new Promise<void>((resolve) => {
          if (slot.timer) clearTimeout(slot.timer);
          slot.job?.reject(new DetectError('VIGIL_ERR_DETECTOR_CLOSED', 'the detector pool is closed'));
          slot.job = null;
          if (slot.proc.exitCode !== null || slot.proc.signalCode !== null) return resolve();
          slot.proc.once('exit', () => resolve());
          slot.proc.kill('SIGTERM');
        }),
    );
    this.slots.clear();
    await Promise.all(exits);
  }
}
