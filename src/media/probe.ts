import { execFile } from 'node:child_process';

export interface ProbeStream {
  index: number;
  codec_type: 'video' | 'audio' | 'subtitle' | 'data' | string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  nb_frames?: string;
  nb_read_packets?: string;
}

export interface ProbeResult {
  streams: ProbeStream[];
  format: { duration?: string; format_name?: string; size?: string };
}

export class MediaProbeError extends Error {
  readonly code = 'VIGIL_ERR_MEDIA_UNREADABLE';
}

/** Runs ffprobe on a file and returns its streams; `countPackets` reads the whole file to count them exactly. */
export function probe(path: string, opts: { countPackets?: boolean; timeoutMs?: number } = {}): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format'];
  if (opts.countPackets) args.push('-count_packets');
  args.push(path);
  return new Promise((resolve, reject) => {
    execFile('ffprobe', args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'ffprobe is not installed (run `make`)' : stderr.trim() || err.message;
        reject(new MediaProbeError(`cannot read ${path}: ${why}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as ProbeResult);
      } catch {
        reject(new MediaProbeError(`ffprobe gave no readable answer for ${path}`));
      }
    });
  });
}

/** "30000/1001" -> 29.97; undefined for "0/0" or garbage. */
export function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [n, d] = rate.split('/').map(Number);
  if (!n || !Number.isFinite(n)) return undefined;
  const v = d ? n / d : n;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

export interface TrackTimes {
  packets: number;
  /** End of the last packet (pts + duration), seconds. */
  end: number;
  /** Sum of packet durations, seconds. */
  duration: number;
}

/**
 * Reads a track packet by packet: what a player can actually reach, even in a file cut off mid-write, where
 * the container's own duration is missing. Null when the file has no such track.
 */
export function packetTimes(path: string, track: 'v' | 'a', timeoutMs = 60_000): Promise<TrackTimes | null> {
  const args = ['-v', 'error', '-select_streams', track, '-show_entries', 'stream=index:packet=pts_time,duration_time', '-of', 'csv=p=0', path];
  return new Promise((resolve, reject) => {
    execFile('ffprobe', args, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new MediaProbeError(`cannot read ${path}: ${stderr.trim() || err.message}`));
        return;
      }
      const lines = stdout.trim().split('\n').filter(Boolean);
      let packets = 0;
      let end = 0;
      let duration = 0;
      let hasStream = false;
      for (const line of lines) {
        const cells = line.split(',');
        if (cells.length === 1) {
          hasStream = true; // the stream=index line
          continue;
        }
        const pts = Number(cells[0]);
        if (Number.isNaN(pts)) continue;
        const d = Number(cells[1]);
        packets++;
        end = Math.max(end, pts + (Number.isFinite(d) ? d : 0));
        duration += Number.isFinite(d) ? d : 0;
      }
      resolve(hasStream || packets > 0 ? { packets, end, duration } : null);
    });
  });
}
