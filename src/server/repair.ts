import { appendFile, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { packetTimes } from '../media/probe';
import { INCIDENTS_FILE, RECORDING_FILE, SESSION_FILE, type SessionRecord } from './session';

/** What the recording really holds, read packet by packet (a crashed file has no duration of its own). */
async function trackFacts(file: string): Promise<{ frames: number; audioSeconds: number; endS: number }> {
  const [v, a] = await Promise.all([packetTimes(file, 'v'), packetTimes(file, 'a')]);
  return { frames: v?.packets ?? 0, audioSeconds: a?.duration ?? 0, endS: Math.max(v?.end ?? 0, a?.end ?? 0) };
}

/**
 * Sessions a crashed server left `in_progress`: their recordings are readable (see mkv-writer.ts) but their
 * session.json never learned how they ended. Runs at start-up, before any candidate is accepted, so no live
 * session can be mistaken for an orphan. Returns how many it repaired.
 */
export async function repairOrphans(recordDir: string, log: Logger): Promise<number> {
  let repaired = 0;
  let candidates: string[];
  try {
    candidates = await readdir(recordDir);
  } catch {
    return 0;
  }
  for (const candidate of candidates) {
    let sessions: string[];
    try {
      sessions = await readdir(path.join(recordDir, candidate));
    } catch {
      continue; // a file, not a candidate folder
    }
    for (const session of sessions) {
      const dir = path.join(recordDir, candidate, session);
      const file = path.join(dir, SESSION_FILE);
      let rec: SessionRecord;
      try {
        rec = JSON.parse(await readFile(file, 'utf8')) as SessionRecord;
      } catch {
        continue;
      }
      if (rec.ended !== 'in_progress') continue;
      try {
        const mkv = path.join(dir, RECORDING_FILE);
        const [facts, st] = await Promise.all([trackFacts(mkv), stat(mkv)]);
        await closeDanglingIncidents(path.join(dir, INCIDENTS_FILE), facts.endS);
        // A session that had already lost writes stays a failed one: the crash does not make it clean.
        const writeFailed = Array.isArray(rec.write_errors) && rec.write_errors.length > 0;
        const fixed: SessionRecord = {
          ...rec,
          ended: writeFailed ? 'recording_failed' : 'server_crashed',
          end_cause: 'server_crashed',
          ended_at: st.mtime.toISOString(),
          frames_written: facts.frames,
          audio_seconds: Math.round(facts.audioSeconds * 1000) / 1000,
        };
        await writeFile(`${file}.repair.tmp`, JSON.stringify(fixed, null, 2) + '\n', { mode: 0o640 });
        await rename(`${file}.repair.tmp`, file);
        repaired++;
        log.warn({ id: rec.candidate_id, session: rec.session_id, frames: facts.frames, audio_s: fixed.audio_seconds }, 'repaired a session left open by a crash');
      } catch (err) {
        log.error({ err, dir }, 'cannot repair a session left open by a crash');
      }
    }
  }
  return repaired;
}

/** Incidents opened but never closed end where the recording ends. */
async function closeDanglingIncidents(file: string, endS: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  const open = new Map<number, Record<string, unknown>>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['event'] === 'open') open.set(e['id'] as number, e);
      else if (e['event'] === 'close') open.delete(e['id'] as number);
    } catch {
      // a line cut by the crash
    }
  }
  let out = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
  for (const e of open.values()) {
    out += JSON.stringify({ ...e, event: 'close', end_s: Math.max(Number(e['start_s']), Math.round(endS * 1000) / 1000), closed_by: 'repair', at: new Date().toISOString() }) + '\n';
  }
  if (out.trim()) await appendFile(file, out);
}
