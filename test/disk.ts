import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A real, small filesystem for write-failure tests: a tmpfs of `bytes` mounted for the test and unmounted
 * after it. Needs root (the suite runs as root locally and in CI); anywhere else the test is skipped with the
 * reason, and only there.
 */
export function smallDisk(t: { after(fn: () => void): void; skip(msg?: string): void }, bytes: number): string | null {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a tmpfs needs root (CI runs the suite as root)');
    return null;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir]);
  t.after(() => {
    // Lazy: a server killed by another after-hook may still hold files open for a moment.
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the filesystem holding `dir` to the last page with a file `name`; returns its size. */
export function fillDisk(dir: string, name = 'filler'): number {
  const fd = openSync(path.join(dir, name), 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return size;
}

/** Files under `dir` that process `pid` holds open. */
export function openFilesUnder(dir: string, pid: number | 'self' = 'self'): string[] {
  const fds = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of readdirSync(fds)) {
    try {
      const target = readlinkSync(path.join(fds, fd));
      if (target.startsWith(dir + path.sep)) out.push(target);
    } catch {
      // closed while listing
    }
  }
  return out;
}
