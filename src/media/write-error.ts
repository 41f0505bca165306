import path from 'node:path';

/** The one stable code for a recording file that could not be written (the Matroska file, the timeline, session.json). */
export const RECORDING_WRITE_CODE = 'VIGIL_ERR_RECORDING_WRITE';

/**
 * A write to a recording file failed: which file, the system's error code (ENOSPC, EIO, EFBIG, ...), where in
 * the file, and what did not reach it. The message says it in words a proctor can act on.
 */
export class RecordingWriteError extends Error {
  readonly code = RECORDING_WRITE_CODE;
  /** The file's name inside its folder (recording.mkv, incidents.jsonl, ...). */
  readonly file: string;
  /** The system error code, or null when the failure was not a system error. */
  readonly errno: string | null;

  constructor(
    readonly filePath: string,
    cause: unknown,
    /** Byte offset the failed write started at, when the file is written at offsets. */
    readonly offset: number | null,
    /** What did not reach the file, in words ("everything from byte 2031616 on", "one incident line"). */
    readonly lost: string,
  ) {
    const errno = errnoOf(cause);
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`cannot write ${path.basename(filePath)}${offset !== null ? ` at byte ${offset}` : ''}: ${errno === 'ENOSPC' ? 'the disk is full' : why}${errno && !why.includes(errno) ? ` (${errno})` : ''}; lost: ${lost}`, { cause });
    this.name = 'RecordingWriteError';
    this.file = path.basename(filePath);
    this.errno = errno;
  }
}

function errnoOf(err: unknown): string | null {
  // Only system error codes (ENOSPC, EIO, ...): other errors carry codes of their own kind.
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) return err.code;
  return null;
}
