// `e` in the console: the sessions the server has finalised, most in need of review first, by the same score as
// `vigil report` (src/report/priority.ts); Enter tells where a session's recording and report entry are.
import blessed from 'blessed';
import type { EndedSession } from '../protocol';
import { duration } from '../cli/format';
import { kindStats, priorityScore, type PriorityFacts } from '../report/priority';

export interface RankedSession {
  session: EndedSession;
  score: number;
}

/** What the score is computed from, as the admin stream tells it (no file is read: nothing found damaged). */
export function priorityFacts(s: EndedSession): PriorityFacts {
  const lostVideoS = s.declared_fps && s.declared_fps > 0 ? s.frames_lost / s.declared_fps : 0;
  return { incidents: kindStats(s.incidents), ended: s.ended, lostMediaS: Math.max(s.audio_seconds_lost, lostVideoS), recordingErrors: s.write_errors, damage: 0 };
}

/** Highest score first; equal scores newest first. */
export function rankEnded(sessions: readonly EndedSession[]): RankedSession[] {
  return sessions
    .map((session, i) => ({ session, score: priorityScore(priorityFacts(session)), i }))
    .sort((a, b) => b.score - a.score || b.i - a.i)
    .map(({ session, score }) => ({ session, score }));
}

function lengthS(s: EndedSession): number {
  return s.ended_at ? Math.max(0, (Date.parse(s.ended_at) - Date.parse(s.started_at)) / 1000) : 0;
}

export class EndedList {
  private ranked: RankedSession[] = [];
  private index = 0;

  set(sessions: readonly EndedSession[]): void {
    const keep = this.selected()?.session.session_id;
    this.ranked = rankEnded(sessions);
    const at = this.ranked.findIndex((r) => r.session.session_id === keep);
    this.index = at >= 0 ? at : 0;
  }

  move(delta: number): void {
    this.index = Math.max(0, Math.min(this.ranked.length - 1, this.index + delta));
  }

  selected(): RankedSession | null {
    return this.ranked[this.index] ?? null;
  }

  /** The overlay's text for `rows` lines: a header, then a window of sessions around the selection. */
  render(rows: number, recordDir: string | null): string {
    if (this.ranked.length === 0) return '\n  No session has ended since the server started.\n\n  Esc closes.';
    const head = `{bold}${'SCORE'.padStart(6)}  ${'ID'.padEnd(16)} ${'ENDED'.padEnd(17)} ${'LENGTH'.padEnd(8)} INCIDENTS{/bold}`;
    const fit = Math.max(1, rows - 3);
    const first = Math.max(0, Math.min(this.index - Math.floor(fit / 2), this.ranked.length - fit));
    const lines = this.ranked.slice(first, first + fit).map(({ session: s, score }, k) => {
      const text = blessed.escape(`${score.toFixed(1).padStart(6)}  ${s.id.slice(0, 16).padEnd(16)} ${s.ended.slice(0, 17).padEnd(17)} ${duration(lengthS(s)).padEnd(8)} ${s.incidents.length}`);
      return first + k === this.index ? `{inverse}${text}{/inverse}` : text;
    });
    const foot = `{bold}Enter{/bold} where are its files  {bold}Esc{/bold} close   ${this.ranked.length} session(s), score as \`vigil report\`${recordDir ? ` (record dir ${blessed.escape(recordDir)})` : ''}`;
    return [head, ...lines, '', foot].join('\n');
  }
}

/** The lines Enter prints for a session: its files, and where `vigil report` puts it. */
export function whereLines(r: RankedSession, recordDir: string | null): string[] {
  const s = r.session;
  return [
    `${s.id} (session ${s.session_id}, score ${r.score.toFixed(1)}, ended ${s.ended}):`,
    `  recording ${s.recording}`,
    `  incidents ${s.incidents_file}`,
    `  report entry: OUT/index.html and OUT/sessions.csv (session_id ${s.session_id}) of \`vigil report --record-dir ${recordDir ?? '<record dir>'} --out OUT\``,
  ];
}
