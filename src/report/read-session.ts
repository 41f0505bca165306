// One session folder read into what the report shows: facts from session.json, the incident timeline, what the
// recording really holds, and every problem found on the way. Never throws for a damaged session: damage is data.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { closeOpenIncidents, parseIncidents, type TimelineIncident } from './incidents-file';
import { priorityParts, priorityScore, kindStats, type PriorityPart } from './priority';
import { checkSegment, recordingFacts, type RecordingFacts } from './recording-facts';
import { parseSessionJson, startFromSessionId, type SessionFacts } from './session-json';

// The file names the server writes (src/server/session-files.ts; the report does not import the server).
export const SESSION_FILE = 'session.json';
export const RECORDING_FILE = 'recording.mkv';
export const INCIDENTS_FILE = 'incidents.jsonl';

/** Something wrong with a session. `damage` problems are in its files; the others (how it ended) are told as well. */
export interface Problem {
  what: string;
  damage: boolean;
}

export interface SessionReview {
  /** The folder, relative to the record dir (candidate/session). */
  rel: string;
  candidateId: string;
  sessionId: string;
  facts: SessionFacts | null;
  startedAt: Date | null;
  endedAt: Date | null;
  /** session.json's `ended`, or null when unknown. */
  ended: string | null;
  /** Length of the session's timeline (the recording's clock), seconds. */
  durationS: number;
  recording: RecordingFacts | null;
  incidents: TimelineIncident[];
  problems: Problem[];
  score: number;
  scoreParts: PriorityPart[];
}

export const FACE_KINDS: ReadonlySet<string> = new Set(['no_face', 'misaligned', 'multiple_faces']);

async function readText(file: string): Promise<{ text: string } | { missing: true } | { error: string }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? { missing: true } : { error: e.code ? `${e.code}: ${e.message}` : e.message };
  }
}

export async function readSession(recordDir: string, rel: string): Promise<SessionReview> {
  const dir = path.join(recordDir, rel);
  const problems: Problem[] = [];
  const damage = (what: string): void => void problems.push({ what, damage: true });
  const note = (what: string): void => void problems.push({ what, damage: false });
  const [candidateDir, sessionDir] = rel.split(path.sep) as [string, string];

  let facts: SessionFacts | null = null;
  const sj = await readText(path.join(dir, SESSION_FILE));
  if ('missing' in sj) damage(`no ${SESSION_FILE}: the server never wrote one (it stopped within the first seconds of the session) or it was not copied`);
  else if ('error' in sj) damage(`${SESSION_FILE} cannot be read (${sj.error})`);
  else {
    const parsed = parseSessionJson(sj.text);
    if (!parsed.ok) damage(`${SESSION_FILE} is unreadable: ${parsed.why}`);
    else {
      facts = parsed.facts;
      if (parsed.missing.length) damage(`${SESSION_FILE} lacks ${parsed.missing.join(', ')}`);
    }
  }

  const ended = facts?.ended ?? null;
  if (ended === 'in_progress') {
    const when = await stat(path.join(dir, SESSION_FILE)).then((s) => s.mtime.toISOString(), () => 'unknown');
    note(`never finalised: ${SESSION_FILE} still says in_progress (last written ${when}): the server was killed or crashed and has not been restarted on this folder since, or the session is still running`);
  } else if (ended === 'server_crashed') {
    note('the server crashed during this session; its next start repaired the record from what the recording holds');
  }
  if (facts?.recordingError) note(`recording failed: ${facts.recordingError}`);
  // The recording's own failure is told above; the other files' failures (session.json, the timeline) here.
  for (const w of facts?.writeErrors.filter((e) => e.message !== facts?.recordingError).slice(0, 3) ?? []) note(`write failed: ${w.message}`);
  if (facts?.subtitleError) note(`incident subtitle track not added: ${facts.subtitleError}`);

  // The recording: what it holds, and whether it is whole.
  const mkv = path.join(dir, RECORDING_FILE);
  let recording: RecordingFacts | null = null;
  try {
    const seg = await checkSegment(mkv);
    if (seg.state === 'not_matroska') damage(`${RECORDING_FILE} is not a Matroska file (${seg.bytes} bytes)`);
    else {
      recording = await recordingFacts(mkv, { scanPackets: seg.state === 'short' });
      const written = facts?.framesWritten ?? null;
      const fewer = recording.videoFrames !== null && written !== null && recording.videoFrames < written;
      if (seg.state === 'short') {
        // One cause, one problem: the missing bytes explain the early end, ffprobe's complaint and the lost frames.
        const frames = fewer ? `, ${recording.videoFrames} of the ${written} video frames ${SESSION_FILE} says were written` : '';
        damage(`${RECORDING_FILE} is cut short: ${seg.bytes} of ${seg.expected} bytes (a partial copy or a failing disk); it plays to ${recording.playableS.toFixed(1)} s of ${recording.durationS.toFixed(1)} s${frames}`);
      } else {
        if (!recording.finalised) damage(`${RECORDING_FILE} was never finalised (no duration or index: cut off mid-write); it plays to ${recording.durationS.toFixed(1)} s`);
        if (recording.readWarning) damage(`reading ${RECORDING_FILE}: ${recording.readWarning}`);
        if (fewer) damage(`${RECORDING_FILE} holds ${recording.videoFrames} video frames; ${SESSION_FILE} says ${written} were written`);
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') damage(`no ${RECORDING_FILE}`);
    else damage(`${RECORDING_FILE} is unreadable: ${e.message}`);
  }

  // The incident timeline.
  let incidents: TimelineIncident[] = [];
  const inc = await readText(path.join(dir, INCIDENTS_FILE));
  if ('missing' in inc) damage(`no ${INCIDENTS_FILE}: the incident timeline is unknown`);
  else if ('error' in inc) damage(`${INCIDENTS_FILE} cannot be read (${inc.error})`);
  else {
    const parsed = parseIncidents(inc.text);
    incidents = parsed.incidents;
    const n = parsed.badLines.length;
    if (n) damage(`${INCIDENTS_FILE}: ${n} unreadable line${n > 1 ? 's' : ''} (${parsed.badLines.slice(0, 5).join(', ')}${n > 5 ? ', ...' : ''}), cut by a crash or a full disk; what they held is lost`);
  }

  const startedAt = facts?.startedAt ?? startFromSessionId(facts?.sessionId ?? sessionDir);
  const endedAt = facts?.endedAt ?? null;
  const wallS = startedAt && endedAt ? Math.max(0, (endedAt.getTime() - startedAt.getTime()) / 1000) : 0;
  const lastIncident = incidents.reduce((m, i) => Math.max(m, i.end_s ?? i.start_s), 0);
  const durationS = recording && recording.durationS > 0 ? recording.durationS : Math.max(wallS, lastIncident);
  const closed = closeOpenIncidents(incidents, durationS);
  if (closed) note(`${closed} incident${closed > 1 ? 's' : ''} never closed in ${INCIDENTS_FILE}: shown ending where the recording ends`);

  // Lost frames in seconds at the declared rate (15 fps, the client's default for a camera, when unknown).
  const lostMediaS = Math.max(facts?.audioSecondsLost ?? 0, facts ? facts.framesLost / (facts.videoFps ?? 15) : 0);
  const priorityFacts = {
    incidents: kindStats(incidents),
    ended,
    lostMediaS,
    recordingErrors: facts?.writeErrors.length ?? 0,
    damage: problems.filter((p) => p.damage).length,
  };
  return {
    rel,
    candidateId: facts?.candidateId ?? candidateDir,
    sessionId: facts?.sessionId ?? sessionDir,
    facts,
    startedAt,
    endedAt,
    ended,
    durationS,
    recording,
    incidents,
    problems,
    score: priorityScore(priorityFacts),
    scoreParts: priorityParts(priorityFacts),
  };
}
