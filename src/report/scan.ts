// Finding the sessions in a record dir (<record-dir>/<candidate>/<session>/), a copy of one, or a folder that is
// not one at all; and the small helpers a run over hundreds of sessions needs (bounded parallelism, progress).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export type ReportErrorCode = 'VIGIL_ERR_RECORD_DIR_MISSING' | 'VIGIL_ERR_RECORD_DIR_UNREADABLE' | 'VIGIL_ERR_REPORT_WRITE' | 'VIGIL_ERR_BAD_SINCE';

/** Exit codes of `vigil report` (README, "vigil report"). */
export const REPORT_EXIT = {
  ok: 0,
  /** The report is written, but some sessions are damaged or unfinished: the report and stderr name them. */
  sessionsWithProblems: 3,
  badArguments: 2,
  recordDirMissing: 4,
  recordDirUnreadable: 5,
  cannotWrite: 6,
} as const;

const EXIT_OF: Record<ReportErrorCode, number> = {
  VIGIL_ERR_RECORD_DIR_MISSING: REPORT_EXIT.recordDirMissing,
  VIGIL_ERR_RECORD_DIR_UNREADABLE: REPORT_EXIT.recordDirUnreadable,
  VIGIL_ERR_REPORT_WRITE: REPORT_EXIT.cannotWrite,
  VIGIL_ERR_BAD_SINCE: REPORT_EXIT.badArguments,
};

export class ReportError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: ReportErrorCode,
    message: string,
  ) {
    super(message);
    this.exitCode = EXIT_OF[code];
  }
}

/** What marks a folder as a session: one of the files the server writes, or a session id as its name. */
const SESSION_FILES = ['session.json', 'recording.mkv', 'incidents.jsonl', 'incidents.vtt'];
const SESSION_ID = /^\d{8}T\d{6}Z-[0-9a-f]+$/;

export interface Found {
  /** candidate/session paths relative to the record dir, sorted. */
  sessions: string[];
  /** Candidate folders that could not be listed, with why. */
  unreadable: Array<{ rel: string; why: string }>;
}

export async function findSessions(recordDir: string): Promise<Found> {
  let top;
  try {
    const st = await stat(recordDir);
    if (!st.isDirectory()) throw new ReportError('VIGIL_ERR_RECORD_DIR_UNREADABLE', `${recordDir} is not a directory: point --record-dir at the folder \`vigil serve --record-dir\` wrote`);
    top = await readdir(recordDir, { withFileTypes: true });
  } catch (err) {
    if (err instanceof ReportError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new ReportError('VIGIL_ERR_RECORD_DIR_MISSING', `${recordDir} does not exist: point --record-dir at the folder \`vigil serve --record-dir\` wrote`);
    throw new ReportError('VIGIL_ERR_RECORD_DIR_UNREADABLE', `cannot read ${recordDir} (${e.code ?? e.message}): check its permissions`);
  }
  const found: Found = { sessions: [], unreadable: [] };
  for (const cand of top.filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    let entries;
    try {
      entries = await readdir(path.join(recordDir, cand), { withFileTypes: true });
    } catch (err) {
      found.unreadable.push({ rel: cand, why: `cannot list ${cand}/ (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
      continue;
    }
    for (const s of entries.filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
      const rel = path.join(cand, s);
      if (SESSION_ID.test(s)) {
        found.sessions.push(rel);
        continue;
      }
      const files = await readdir(path.join(recordDir, rel)).catch(() => [] as string[]);
      if (files.some((f) => SESSION_FILES.includes(f))) found.sessions.push(rel);
    }
  }
  return found;
}

/** `--since`: an ISO date/time, or a duration back from now (90s, 30m, 4h, 2d). */
export function parseSince(v: string, now = new Date()): Date {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(v.trim());
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(m[1]) * unit * 1000);
  }
  const d = /^\d{4}-\d{2}-\d{2}/.test(v.trim()) ? new Date(v.trim()) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new ReportError('VIGIL_ERR_BAD_SINCE', `--since ${JSON.stringify(v)}: expected an ISO date or time (2026-11-27, 2026-11-27T09:00Z) or a duration back from now (90s, 30m, 4h, 2d)`);
  return d;
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping their order in the result. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Progress on stderr, at most once a second (so a small folder prints none): "reading sessions 40/200". */
export class Progress {
  private last = Date.now();
  private shown = false;
  constructor(
    private readonly err: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly everyMs = 1000,
  ) {}

  tick(what: string, done: number, total: number): void {
    const now = Date.now();
    if (now - this.last < this.everyMs && done < total) return;
    if (!this.shown && done >= total) return;
    this.last = now;
    this.shown = true;
    const line = `vigil report: ${what} ${done}/${total}`;
    this.err.write(this.err.isTTY ? `\r${line}\x1b[K${done >= total ? '\n' : ''}` : `${line}\n`);
  }

  /** Starts a new phase: its first tick waits a full interval again. */
  phase(): void {
    this.last = Date.now();
    this.shown = false;
  }
}
