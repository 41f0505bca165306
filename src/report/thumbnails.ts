// One picture per face incident: the recording's frame at the incident's start, decoded by ffmpeg and scaled down,
// with the face boxes drawn when the incident record carries them.
import { spawn } from 'node:child_process';
import { rename, rm, stat } from 'node:fs/promises';
import type { FaceBox } from './incidents-file';

export type Thumbnail = { ok: true; file: string; frameS: number | null } | { ok: false; why: string };

export const THUMB_WIDTH = 320;
const TIMEOUT_MS = 60_000;

/** ffmpeg's drawbox filter for each box, in source pixels before scaling (6 px: about 3 on the picture). */
function boxFilters(faces: FaceBox[] | null): string[] {
  return (faces ?? []).map((b) => `drawbox=x=${Math.round(b.x)}:y=${Math.round(b.y)}:w=${Math.max(1, Math.round(b.w))}:h=${Math.max(1, Math.round(b.h))}:color=lime:t=6`);
}

/**
 * Writes `out` (JPEG) from the first frame at or after `atS` seconds of the recording's timeline. `-ss` before the
 * input seeks (Matroska cues, or a scan of a file without them) and then decodes up to the exact time; `-copyts`
 * keeps the frame's own timestamp, which showinfo prints, so the page can say which frame it is.
 */
export function extractThumbnail(mkv: string, atS: number, out: string, faces: FaceBox[] | null): Promise<Thumbnail> {
  const filters = ['showinfo', ...boxFilters(faces), `scale=${THUMB_WIDTH}:-2`].join(',');
  const tmp = `${out}.part.jpg`;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'info', '-ss', Math.max(0, atS - 0.001).toFixed(3), '-copyts', '-i', mkv, '-map', '0:v:0', '-frames:v', '1', '-vf', filters, '-q:v', '4', '-y', tmp];
  return new Promise((resolve) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 64 * 1024) err += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), TIMEOUT_MS);
    p.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, why: e.code === 'ENOENT' ? 'ffmpeg is not installed' : e.message });
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      void (async (): Promise<Thumbnail> => {
        const size = await stat(tmp).then((s) => s.size, () => 0);
        if (code !== 0 || size === 0) {
          await rm(tmp, { force: true });
          const why = signal ? `ffmpeg timed out after ${TIMEOUT_MS / 1000} s` : (errorLine(err) ?? `no frame at ${atS.toFixed(2)} s (the recording ends before it)`);
          return { ok: false, why };
        }
        await rename(tmp, out);
        const m = /pts_time:\s*(-?[\d.]+)/.exec(err);
        return { ok: true, file: out, frameS: m ? Number(m[1]) : null };
      })().then(resolve, (e: Error) => resolve({ ok: false, why: e.message }));
    });
  });
}

/** The first line of ffmpeg's output that reads as an error (info lines are banner and stream details). */
function errorLine(stderr: string): string | null {
  const line = stderr.split('\n').find((l) => /error|invalid|no such|denied|prematurely|no space/i.test(l));
  return line ? line.trim().replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '') : null;
}

/** A face incident's picture as the page and the CSV refer to it: a path relative to the report's folder. */
export type IncidentImage = { ok: true; href: string; frameS: number | null } | { ok: false; why: string };
