import { open, type FileHandle } from 'node:fs/promises';

interface WriteOp {
  position: number;
  buffers: Buffer[];
  bytes: number;
}

/**
 * Ordered asynchronous writes to one file: appends and in-place patches, never blocking the event loop.
 *
 * Appends that pile up while a write is in flight go out together in one writev, so a busy recorder costs one
 * syscall per batch, not per frame. What has been handed to the kernel survives a SIGKILL of this process;
 * only `pendingBytes` (normally a few frames) can be lost.
 */
export class FileSink {
  private queue: WriteOp[] = [];
  private writing: Promise<void> | null = null;
  private end = 0;
  private pending = 0;
  private error: Error | null = null;
  private closed = false;

  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string): Promise<FileSink> {
    return new FileSink(await open(path, 'wx', 0o640));
  }

  /** File offset where the next append lands. */
  get offset(): number {
    return this.end;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  get failed(): Error | null {
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
    const last = this.queue[this.queue.length - 1];
    if (append && last && last.position + last.bytes === position) {
      last.buffers.push(buf);
      last.bytes += buf.length;
    } else {
      this.queue.push({ position, buffers: [buf], bytes: buf.length });
    }
    this.pending += buf.length;
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.error) {
        const op = this.queue.shift()!;
        let written = 0;
        let buffers = op.buffers;
        while (written < op.bytes) {
          const { bytesWritten } = await this.fh.writev(buffers, op.position + written);
          written += bytesWritten;
          if (written < op.bytes) buffers = [Buffer.concat(buffers).subarray(bytesWritten)];
        }
        this.pending -= op.bytes;
      }
    } catch (err) {
      this.error = err as Error;
      this.queue = [];
      this.pending = 0;
    } finally {
      this.writing = null;
    }
  }

  /** Resolves when everything queued so far is in the kernel; rejects if any write failed. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.error) throw this.error;
  }

  /** Flushes, syncs to disk and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
      await this.fh.sync();
    } finally {
      this.closed = true;
      await this.fh.close();
    }
  }
}
