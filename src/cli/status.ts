import { AdminClient } from '../admin/client';
import type { ServerStatus } from '../protocol';
import { bytes, duration, statusTable } from './format';

export interface StatusOptions {
  adminSocket: string;
  json: boolean;
  /** Seconds between refreshes; absent for a single snapshot. */
  watch?: number;
  out: NodeJS.WriteStream;
  signal?: AbortSignal;
}

function render(status: ServerStatus, json: boolean): string {
  if (json) return JSON.stringify({ candidates: status.candidates, server: { ...status, candidates: undefined } });
  const head = `vigil ${status.version} on ${status.listen}, up ${duration(status.uptime_s)}, ${status.candidates.length} candidate(s), recording to ${status.record_dir}`;
  const drops = Object.entries(status.drops).map(([k, v]) => `${k} ${v}`).join(', ');
  const detection = status.detection?.state === 'down' ? `\ndetection unavailable since ${status.detection.since}: ${status.detection.reason} (faces unknown; recording continues)` : '';
  const body = status.candidates.length ? statusTable(status.candidates) : 'no candidates connected';
  const total = status.candidates.reduce((n, c) => n + c.bytes_in, 0);
  const failed = status.candidates
    .filter((c) => c.write_error)
    .map((c) => `\nRECORDING FAILED for ${c.id}: ${c.write_error!.message}`)
    .join('');
  const failures = status.recording_failures ? `\nrecording failures since start: ${status.recording_failures}` : '';
  return `${head}${detection}\n${body}\n${status.candidates.length ? `total in: ${bytes(total)}` : ''}${failed}${failures}${drops ? `\ndropped connections: ${drops}` : ''}`.trimEnd();
}

/** `vigil status`: one snapshot, or a refreshing view with --watch. Resolves with the exit code. */
export async function runStatus(opts: StatusOptions): Promise<number> {
  const client = await AdminClient.connect(opts.adminSocket);
  try {
    if (!opts.watch) {
      opts.out.write(render(await client.status(), opts.json) + '\n');
      return 0;
    }
    const tty = opts.out.isTTY && !opts.json;
    while (!opts.signal?.aborted) {
      const text = render(await client.status(), opts.json);
      // Home the cursor and clear below, so the table redraws in place without flicker.
      opts.out.write(tty ? `\x1b[H\x1b[J${text}\n\n(refreshing every ${opts.watch}s; Ctrl-C to stop)\n` : text + '\n');
      await new Promise<void>((resolve) => {
        // The abort listener goes when the wait ends either way; one left per refresh would pile up on the signal.
        const done = (): void => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, opts.watch! * 1000);
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
    return 0;
  } finally {
    client.close();
  }
}
