// The console's event log: the newest lines that fit, in a plain box. Not blessed's Log widget, which redraws the
// whole screen for every line it is given; at 200 candidates events come faster than the console may redraw.
import blessed from 'blessed';

const KEEP = 1000;

export class EventLog {
  readonly box: blessed.Widgets.BoxElement;
  private readonly lines: string[] = [];
  private shown = -1;

  constructor(parent: blessed.Widgets.Screen) {
    this.box = blessed.box({ parent, label: ' Events ', tags: true, wrap: false, border: { type: 'line' } });
    // One screen row per line (cut at the edge), so the newest line is always the bottom one.
    // The content is cut to the box's height just before each draw, so a burst of lines costs one join.
    this.box.on('prerender', () => this.fit());
  }

  /** Adds a line of blessed-tagged text; the caller asks for the redraw. */
  log(line: string): void {
    this.lines.push(line);
    if (this.lines.length > KEEP) this.lines.splice(0, this.lines.length - KEEP);
    this.shown = -1;
  }

  private fit(): void {
    const rows = Math.max(0, (this.box.height as number) - 2);
    if (this.shown === rows) return;
    this.shown = rows;
    this.box.setContent(this.lines.slice(-rows).join('\n'));
  }
}
