/**
 * Whether face detection is working, as the detector pool reports it to whoever subscribes (the server).
 * Kept apart from the pool so that the server can name the type without the pool's process machinery.
 */
export type DetectorHealth =
  | { up: true }
  | {
      up: false;
      /** Why, in words a proctor can act on (the last failure). */
      reason: string;
      since: Date;
      /** When the pool tries a new detector process next; null while one is already being tried. */
      retryInMs: number | null;
    };

/** Minimal logging the pool needs; a pino Logger fits. */
export interface PoolLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const SILENT_LOG: PoolLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Exponential backoff, capped: attempt 0 waits `baseMs`, each further attempt twice as long, never past `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}
