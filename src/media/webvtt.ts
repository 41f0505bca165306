/** WebVTT text for the incident timeline: a reviewer's player shows each incident while it lasts. */
export const VTT_HEADER = 'WEBVTT\n\n';

export function vttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const rest = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(rest).padStart(3, '0')}`;
}

/** One cue; blank lines inside the text would end the cue early, so they are folded away. */
export function vttCue(id: number, startS: number, endS: number, text: string): string {
  const body = text.replace(/\r?\n\s*\r?\n/g, '\n').trim();
  return `${id}\n${vttTime(startS)} --> ${vttTime(Math.max(endS, startS + 0.001))}\n${body}\n\n`;
}
