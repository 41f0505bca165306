// When and how session.json is written: atomic replaces chained one after another, a periodic refresh while the
// session runs, and the final record written again when its own failure changed it. Apart from session.ts, which
// owns the counters the record is built from (session-record.ts builds it).
import type { RecordingWriteError } from '../media/write-error';
import { replaceFile, type SessionRecord, type WriteFailures } from './session-files';

export class SessionRecordFile {
  private chain: Promise<unknown> = Promise.resolve();
  private refreshTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly file: string,
    private readonly failures: WriteFailures,
    private readonly build: (endedAt: Date | null, how: string) => SessionRecord,
  ) {}

  /**
   * Atomic replace, so a reader (or a crash) never sees half a session.json. Writes are chained so a periodic
   * refresh can never land after, and overwrite, the final record. A failed write is recorded as a failure
   * (and so reported) and rejects with it; the record that could not be written is still what this session is.
   */
  write(endedAt: Date | null, ended: string): Promise<SessionRecord> {
    const write = async (): Promise<SessionRecord> => {
      const rec = this.build(endedAt, ended);
      try {
        await replaceFile(this.file, JSON.stringify(rec, null, 2) + '\n');
      } catch (err) {
        this.failures.add(err as RecordingWriteError);
        throw err;
      }
      return rec;
    };
    const next = this.chain.then(write, write);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Writes the record as it stands now; a failure is already recorded and reported, so the record is returned. */
  async settle(at: Date, how: string): Promise<SessionRecord> {
    // A failure while writing adds itself to the record: write once more so the file on disk says so.
    for (let attempt = 0; attempt < 2; attempt++) {
      const before = this.failures.records.length;
      try {
        return await this.write(at, how);
      } catch {
        if (this.failures.records.length === before) break;
      }
    }
    return this.build(at, how);
  }

  /** Refreshes the in-progress record every `everyMs`, so a crash leaves recent counters behind. */
  startRefresh(everyMs: number): void {
    this.refreshTimer = setInterval(() => void this.write(null, 'in_progress').catch(() => undefined), everyMs);
    this.refreshTimer.unref();
  }

  stopRefresh(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
  }
}
