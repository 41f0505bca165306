import { open, type FileHandle } from 'node:fs/promises';
import { RecordingWriteError } from './write-error';

interface WriteOp {
  position: number;
  buffers: Buffer[];
  bytes: number;
  append: boolean;
}

/**
 * An append waits this long for company before it is written. Each write costs the event loop a hand-off to
 * libuv's thread pool (a lock and a thread wake-up, about 40 us on this machine's 2 shared cores): with 100
 * candidates a write per frame and per audio chunk was 4,000 of them a second, the server's largest cost after
 * receiving (bench/ingest, profiled). Gathered over 100 ms that was still about 10 writes a second per candidate
 * and, with their thread-pool work, a third of the server's CPU at 32 candidates (perf); over 250 ms it is 4, and
 * a SIGKILL loses at most a quarter of a second more of a candidate's media, well inside the one second a
 * recording promises to be readable up to.
 */
export const GATHER_MS = 250;

/**
 * Ordered asynchronous writes to one file: appends and in-place patches, never blocking the event loop.
 *
 * Appends gathered for up to GATHER_MS, and those that pile up while a write is in flight, go out together in
 * one writev, so a busy recorder costs one syscall per batch, not per frame. What has been handed to the kernel
 * survives a SIGKILL of this process; only `pendingBytes` (normally a few frames) can be lost.
 *
 * The first failed write (a full disk, EIO, a file-size limit) stops the sink for good: it is reported once
 * through `onFailure`, and everything appended afterwards is dropped and counted in `lostBytes`, never
 * buffered. Writing on after a hole would leave a file that claims data it does not have.
 */
export class FileSink {
  private queue: WriteOp[] = [];
  private writing: Promise<void> | null = null;
  /** Set while appends are being gathered (see GATHER_MS); the write starts when it fires or on flush. */
  private gathering: NodeJS.Timeout | null = null;
  private end = 0;
  private pending = 0;
  /** Appended bytes [0, durable) are in the kernel: every write covering them returned successfully. */
  private durable = 0;
  private error: RecordingWriteError | null = null;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly onFailure: (err: RecordingWriteError) => void,
  ) {}

  static async create(path: string, onFailure: (err: RecordingWriteError) => void = () => undefined): Promise<FileSink> {
    return new FileSink(await open(path, 'wx', 0o640), path, onFailure);
  }

  /** File offset where the next append lands (it keeps advancing after a failure, so offsets stay consistent). */
  get offset(): number {
    return this.end;
  }

  /** Appended bytes that reached the kernel: the file holds [0, writtenBytes) as appended. */
  get writtenBytes(): number {
    return this.durable;
  }

  /** Appended bytes that never reached the file because a write failed. */
  get lostBytes(): number {
    return this.error ? this.end - this.durable : 0;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  get failed(): RecordingWriteError | null {
    return this.error;
  }

  append(buf: Buffer): number {
    const at = this.end;
    this.enqueue(at, buf, true);
    this.end += buf.length;
    return at;
  }

  /** Overwrites bytes already appended, ordered after every earlier write. */
  patch(position: number, buf: Buffer): void {
    if (position + buf.length > this.end) throw new RangeError('patch past the end of what was written');
    this.enqueue(position, buf, false);
  }

  private enqueue(position: number, buf: Buffer, append: boolean): void {
    if (this.closed) throw new Error('write after close');
    if (this.error) return;
    const last = append ? this.lastAppend() : undefined;
    if (last && last.position + last.bytes === position) {
      last.buffers.push(buf);
      last.bytes += buf.length;
    } else {
      this.queue.push({ position, buffers: [buf], bytes: buf.length, append });
    }
    this.pending += buf.length;
    if (this.writing || this.gathering) return;
    if (append) this.gathering = setTimeout(() => this.write(), GATHER_MS);
    else this.write();
  }

  /**
   * The queued append a new append may join: the last one, even when patches were queued after it. A patch only
   * rewrites bytes appended before it, so writing later appends ahead of it never lets it land before what it
   * describes (a cluster's size, patched as the next cluster starts, still lands after that cluster's blocks),
   * and the recorder's once-a-second cluster patch no longer splits a gathered batch into two writes.
   */
  private lastAppend(): WriteOp | undefined {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const op = this.queue[i]!;
      if (op.append) return op;
    }
    return undefined;
  }

  /** Starts writing what is queued now, rather than when the gathering window ends. */
  private write(): void {
    if (this.gathering) clearTimeout(this.gathering);
    this.gathering = null;
    // Only with something to write: drain() on an empty queue would finish before `writing` is even set.
    if (this.queue.length > 0 && !this.error) this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    let op: WriteOp | undefined;
    let written = 0;
    try {
      while (this.queue.length > 0 && !this.error) {
        op = this.queue.shift()!;
        written = 0;
        let buffers = op.buffers;
        while (written < op.bytes) {
          const { bytesWritten } = await this.fh.writev(buffers, op.position + written);
          written += bytesWritten;
          if (op.append) this.durable = op.position + written;
          if (written < op.bytes) buffers = [Buffer.concat(buffers).subarray(bytesWritten)];
        }
        this.pending -= op.bytes;
      }
    } catch (err) {
      const at = op ? op.position + written : this.end;
      this.fail(err, at, `everything from byte ${at} on (${this.end - this.durable} bytes so far, and all that follows)`);
    } finally {
      this.writing = null;
    }
  }

  private fail(cause: unknown, offset: number | null, lost: string): void {
    if (this.error) return;
    this.error = new RecordingWriteError(this.path, cause, offset, lost);
    this.queue = [];
    this.pending = 0;
    this.onFailure(this.error);
  }

  /** Resolves when everything queued so far is in the kernel; rejects if any write failed. */
  async flush(): Promise<void> {
    this.write();
    while (this.writing) await this.writing;
    if (this.error) throw this.error;
  }

  /** After a failure: cuts the file back to `size` (the end of the last complete unit), dropping a torn tail. */
  async truncate(size: number): Promise<void> {
    this.write();
    while (this.writing) await this.writing;
    await this.fh.truncate(Math.min(size, this.durable));
  }

  /**
   * Flushes, syncs to disk and closes. Idempotent. A failed flush or sync is reported through `onFailure`
   * (once, like any write failure), not thrown: the handle is closed either way.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.write();
      while (this.writing) await this.writing;
      if (!this.error) {
        try {
          await this.fh.sync();
        } catch (err) {
          this.fail(err, null, `the last writes may not be on disk (fsync failed)`);
        }
      }
    } finally {
      this.closed = true;
      await this.fh.close();
    }
  }
}
