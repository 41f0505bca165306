/**
 * Last-resort handlers for errors no code path caught. Without them an unhandled rejection kills the process with a
 * bare stack trace and no log line, and an uncaught exception skips every cleanup. Both are logged; after an
 * uncaught exception the state is unknown, so the process runs its registered cleanup (bounded in time) and exits.
 */

/** Where crash reports go besides stderr (the server's log, once it has one). */
export type CrashReporter = (kind: 'unhandled_rejection' | 'uncaught_exception', err: unknown) => void;

export const CRASH_EXIT_CODE = 70; // EX_SOFTWARE: an internal error, distinct from usage (2) and runtime (1) errors
const CLEANUP_LIMIT_MS = 5_000;

let reporter: CrashReporter | null = null;
let cleanup: (() => Promise<void>) | null = null;
let installed = false;
let exiting = false;

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

function report(kind: 'unhandled_rejection' | 'uncaught_exception', err: unknown): void {
  process.stderr.write(`vigil: internal error (${kind}): ${describe(err)}\n`);
  try {
    reporter?.(kind, err);
  } catch {
    // A broken reporter must not hide the original error, which is already on stderr.
  }
}

/** Sets (or clears) the extra reporter and the cleanup to run before exiting on an uncaught exception. */
export function onCrash(opts: { report?: CrashReporter | null; cleanup?: (() => Promise<void>) | null }): void {
  if (opts.report !== undefined) reporter = opts.report;
  if (opts.cleanup !== undefined) cleanup = opts.cleanup;
}

export function installCrashHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => report('unhandled_rejection', reason));
  process.on('uncaughtException', (err) => {
    report('uncaught_exception', err);
    if (exiting) return;
    exiting = true;
    const limit = new Promise<void>((resolve) => setTimeout(resolve, CLEANUP_LIMIT_MS).unref());
    const done = cleanup ? cleanup().catch((e: unknown) => report('uncaught_exception', e)) : Promise.resolve();
    void Promise.race([done, limit]).then(() => process.exit(CRASH_EXIT_CODE));
  });
}
