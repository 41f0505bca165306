// The candidate table's body: only the rows that fit are turned into text and handed to blessed, with the
// selection bar drawn in; at 200 candidates a blessed List (one element per row, every row parsed on every update)
// cost most of the console's CPU.
import blessed from 'blessed';
import type { TableEntry } from './model';
import { rowText, tableRow, type Column, type RowContext } from './candidate-table';

export class TableView {
  readonly box: blessed.Widgets.BoxElement;
  /** Index of the first row shown. */
  private top = 0;

  constructor(parent: blessed.Widgets.Node) {
    this.box = blessed.box({ parent, top: 1, left: 0, tags: true, wrap: false });
  }

  /** Draws `entries` with the bar on `selected` (-1: none), scrolled so that the bar is in view; `empty` if none. */
  show(entries: readonly TableEntry[], selected: number, cols: Column[], ctx: RowContext, empty: string): void {
    const height = Math.max(1, this.box.height as number);
    if (entries.length === 0) {
      this.top = 0;
      this.box.setContent(blessed.escape(empty));
      return;
    }
    if (selected >= 0 && selected < this.top) this.top = selected;
    if (selected >= this.top + height) this.top = selected - height + 1;
    this.top = Math.max(0, Math.min(this.top, entries.length - height));
    const lines: string[] = [];
    for (let i = this.top; i < Math.min(entries.length, this.top + height); i++) {
      const c = entries[i]!;
      // The bar is drawn over the row's own colours; a failed recording stays red under it.
      lines.push(i === selected ? `{blue-bg}{bold}${c.write_error ? '{red-fg}' : ''}${rowText(c, cols, ctx)}{/}` : tableRow(c, cols, ctx));
    }
    this.box.setContent(lines.join('\n'));
  }
}
