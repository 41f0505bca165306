import pino, { type Logger } from 'pino';

/** JSON lines to stderr (or a file), readable with `pino-pretty`. Async so a slow terminal never stalls ingest. */
export function createLogger(opts: { level: string; file: string | undefined; name: string }): Logger {
  const dest = pino.destination({ dest: opts.file ?? 2, sync: false, mkdir: true, minLength: 0 });
  return pino({ name: opts.name, level: opts.level, base: { pid: process.pid } }, dest);
}

/** Writes out what the async destination still holds; call before exit. */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
