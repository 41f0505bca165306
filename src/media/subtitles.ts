import { spawn } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';

export class SubtitleMuxError extends Error {
  readonly code = 'VIGIL_ERR_SUBTITLE_MUX';
}

/**
 * Adds a WebVTT file to a finished Matroska recording as a subtitle track (S_TEXT/UTF8, which VLC and mpv show),
 * copying audio and video untouched. ffmpeg writes a new file beside it that replaces the original only when
 * complete, so a failure leaves the recording as it was.
 */
export function muxSubtitles(mkv: string, vtt: string, opts: { title: string; timeoutMs?: number }): Promise<void> {
  const tmp = `${mkv}.subtitled.tmp`;
  // -xerror: ffmpeg 5.1 otherwise exits 0 after "No space left on device" while writing the copy, and the
  // truncated copy would replace the recording.
  // -copyts: keep the recording's timestamps as written (a later part of a session starts where it took over, on
  // the session's clock, like its subtitle cues), rather than shifting the file to start at 0.
  const args = ['-nostdin', '-xerror', '-v', 'error', '-y', '-copyts', '-i', mkv, '-i', vtt, '-map', '0', '-map', '1', '-c', 'copy', '-c:s', 'srt',
    '-metadata:s:s:0', `title=${opts.title}`, '-metadata:s:s:0', 'language=eng', '-f', 'matroska', tmp];
  return new Promise<void>((resolve, reject) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(new SubtitleMuxError(`cannot run ffmpeg: ${e.message}`));
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      // At -v error anything printed is an error: the copy is not trusted even when ffmpeg exits 0.
      if (code === 0 && err.trim() === '') resolve();
      else reject(new SubtitleMuxError(`ffmpeg could not add subtitles (${signal ?? `exit ${code}`}): ${err.trim()}`));
    });
  }).then(
    () => rename(tmp, mkv),
    async (e: unknown) => {
      await rm(tmp, { force: true });
      throw e;
    },
  );
}
