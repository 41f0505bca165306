// A session's incident timeline on disk: a line in incidents.jsonl when an incident opens and when it closes, a
// cue in incidents.vtt when it closes, appended in order. Apart from session.ts, which decides what the
// incidents are; a failed append is recorded with the session's other write failures.
import path from 'node:path';
import type { IncidentEvent } from '../detect/incidents';
import type { RecordingWriteError } from '../media/write-error';
import { INCIDENTS_FILE, SUBTITLES_FILE, appendTo, timelineText, type WriteFailures } from './session-files';

export class IncidentFiles {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly failures: WriteFailures,
  ) {}

  append(events: IncidentEvent[]): void {
    const { lines, cues } = timelineText(events);
    const n = events.length;
    const write = async (): Promise<void> => {
      await appendTo(path.join(this.dir, INCIDENTS_FILE), lines, `${n} incident line(s)`).catch((err: RecordingWriteError) => this.failures.add(err));
      if (cues) await appendTo(path.join(this.dir, SUBTITLES_FILE), cues, 'incident cue(s)').catch((err: RecordingWriteError) => this.failures.add(err));
    };
    this.chain = this.chain.then(write);
  }

  /** Resolves once every append so far has been tried. */
  written(): Promise<void> {
    return this.chain;
  }
}
