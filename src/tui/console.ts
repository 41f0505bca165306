import blessed from 'blessed';
import { AdminClient } from '../admin/client';
import type { AdminLink } from '../admin/link';
import type { ModeName, ServerEvent } from '../protocol';
import { duration } from '../cli/format';
import { ConsoleModel, eventLine } from './model';
import { CoalescedRefresh } from './refresh';
import { tableColumns, tableHeader, type RowContext } from './candidate-table';
import { TableView } from './table-view';
import { FOOTER, HELP } from './console-keys';
import { colourDepth } from './colour-depth';
import { PreviewView } from './preview-view';
import { RenderThrottle } from './render-throttle';
import { EventLog } from './event-log';
import { WindowLauncher } from './window-launcher';
import { EndedList, whereLines } from './ended-view';
import { SORT_LABEL, nextSort } from './sort';

export interface ConsoleOptions {
  adminSocket: string;
  /** Another admin source (the NATS cluster) in place of the socket. */
  connect?: () => Promise<AdminLink>;
  /** Preview frames per second asked of the server. Default 5. */
  previewFps?: number;
}

const MAX_REDRAWS_PER_S = 10;
const LAZY_RENDER_MS = 250; // events and polls: four redraws a second are plenty
const POLL_INTERVAL_MS = 1000;
const EVENT_REFRESH_MS = 250; // events in a burst share one status request (200 candidates: a few a second)
const RECONNECT_MS = 2000;

type Mode = 'main' | 'help' | 'preview' | 'filter' | 'confirm' | 'ended';

/**
 * The proctor's console: a client of the server's admin socket, like `vigil status`, drawn with blessed.
 * Redraws only when something changed, at most ten times a second, from one timer.
 */
export class ProctorConsole {
  private readonly model = new ConsoleModel();
  private client: AdminLink | null = null;
  private screen!: blessed.Widgets.Screen;
  private header!: blessed.Widgets.BoxElement;
  private tableHead!: blessed.Widgets.BoxElement;
  private table!: TableView;
  private tableFrame!: blessed.Widgets.BoxElement;
  private log!: EventLog;
  private footer!: blessed.Widgets.BoxElement;
  private overlay!: blessed.Widgets.BoxElement;
  private prompt!: blessed.Widgets.TextboxElement;
  private mode: Mode = 'main';
  private preview!: PreviewView;
  private rowContext!: RowContext;
  private readonly renders = new RenderThrottle(() => this.draw(), MAX_REDRAWS_PER_S, LAZY_RENDER_MS);
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private confirmId: string | null = null;
  private readonly endedList = new EndedList();
  private windows!: WindowLauncher;
  private where: string[] = [];
  private connected = false;
  private done!: (code: number) => void;
  private stopped = false;
  private readonly refresh = new CoalescedRefresh(() => this.poll(), EVENT_REFRESH_MS);

  constructor(private readonly opts: ConsoleOptions) {}

  /** Connects first, so a missing server is reported in the plain terminal; then draws until quit. */
  async run(): Promise<number> {
    const client = await this.open();
    const finished = new Promise<number>((resolve) => (this.done = resolve));
    this.build();
    await this.attach(client);
    this.timers.push(setInterval(() => this.refresh.request(), POLL_INTERVAL_MS));
    return finished;
  }

  private build(): void {
    const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'vigil console', warnings: false, autoPadding: true });
    this.screen = screen;
    this.header = blessed.box({ parent: screen, top: 0, left: 0, height: 1, width: '100%', tags: true, style: { bg: 'blue', fg: 'white' } });
    this.tableFrame = blessed.box({ parent: screen, left: 0, width: '100%', border: { type: 'line' }, label: ' Candidates ', tags: true });
    this.tableHead = blessed.box({ parent: this.tableFrame, top: 0, left: 0, height: 1, tags: true, style: { bold: true } });
    this.table = new TableView(this.tableFrame);
    this.log = new EventLog(screen);
    this.footer = blessed.box({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', tags: true, content: FOOTER, style: { bg: 'black', fg: 'white' } });
    this.overlay = blessed.box({ parent: screen, top: 1, left: 0, width: '100%', hidden: true, border: { type: 'line' }, tags: true, style: { border: { fg: 'cyan' } } });
    this.windows = new WindowLauncher(this.opts.adminSocket, (line) => this.note(line));
    const depth = colourDepth(process.env, (screen.tput as unknown as { colors: number }).colors);
    this.preview = new PreviewView(screen, this.overlay, depth, () => this.renders.request(true));
    const history: readonly number[] = [];
    this.rowContext = { fps: (id) => this.model.fps.get(id) ?? history, dim: depth === '8' ? 'white' : 'grey' };
    this.prompt = blessed.textbox({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', hidden: true, inputOnFocus: false, style: { bg: 'yellow', fg: 'black' } });
    this.layout();
    screen.on('resize', () => {
      this.layout();
      this.preview.show(null);
      this.markDirty();
    });
    screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg) => this.onKey(ch, key));
  }

  /** Positions computed from the terminal size, so 80x24 and 250x60 both get a usable split. */
  private layout(): void {
    const w = this.screen.width as number;
    const h = this.screen.height as number;
    const body = Math.max(6, h - 2);
    const tableH = Math.max(5, Math.min(body - 6, Math.floor(body * 0.6)));
    const lower = body - tableH;
    Object.assign(this.tableFrame, { top: 1, height: tableH });
    this.tableHead.width = w - 2;
    this.table.box.width = w - 2;
    this.table.box.height = Math.max(1, tableH - 3);
    Object.assign(this.log.box, { top: 1 + tableH, left: 0, width: w, height: lower });
    this.overlay.height = body;
    this.renderTable();
  }

  private open(): Promise<AdminLink> {
    return this.opts.connect?.() ?? AdminClient.connect(this.opts.adminSocket);
  }

  private async attach(client: AdminLink): Promise<void> {
    this.client = client;
    this.connected = true;
    client.onClosed((why) => this.onDisconnected(why));
    client.onFrame((f) => this.preview.show(f));
    await client.subscribe((e) => this.onEvent(e));
    const previewing = this.preview.candidate;
    if (previewing) await client.command({ type: 'preview', id: previewing, fps: this.opts.previewFps ?? 5 }).catch(() => undefined);
    this.note(`{green-fg}connected{/} to ${client.where}`);
    await this.poll();
  }

  private onDisconnected(why: string): void {
    if (this.stopped) return;
    this.client = null;
    this.connected = false;
    this.note(`{red-fg}lost the server{/}: ${why}; retrying every ${RECONNECT_MS / 1000} s`);
    this.renderHeader();
    this.markDirty();
    this.reconnectTimer ??= setTimeout(() => this.reconnect(), RECONNECT_MS);
  }

  private reconnect(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    this.open().then(
      (c) => void this.attach(c).catch(() => undefined),
      () => (this.reconnectTimer = setTimeout(() => this.reconnect(), RECONNECT_MS)),
    );
  }

  private async poll(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      this.model.applyStatus(await client.status());
    } catch {
      return;
    }
    this.renderHeader();
    this.renderTable();
    this.markDirty();
  }

  private onEvent(e: ServerEvent): void {
    const line = eventLine(e);
    if (line) this.log.log(line);
    // Joins, leaves and face changes should show in the table without waiting for the next poll.
    if (e.kind !== 'mode_changed') this.refresh.request();
    this.markDirty();
  }

  private note(text: string): void {
    this.log.log(`${new Date().toISOString().slice(11, 19)} ${text}`);
    this.markDirty();
  }

  private markDirty(): void {
    this.renders.request();
  }

  private draw(): void {
    if (!this.stopped) this.screen.render();
  }

  private renderHeader(): void {
    const s = this.model.status;
    const down = s?.detection?.state === 'down' ? '  {red-fg}{bold}detection unavailable{/}' : '';
    // Right after the name, so that an 80-column terminal, which cuts the end of the line, still shows it.
    const state = (this.connected ? '' : ' {red-fg}{bold}DISCONNECTED{/}') + down;
    this.header.setContent(
      s
        ? ` {bold}vigil{/bold}${state} ${s.listen}${(this.screen.width as number) >= 100 ? `  up ${duration(s.uptime_s)}` : ''}  candidates ${s.candidates.length}${this.model.reconnecting() ? `  reconnecting ${this.model.reconnecting()}` : ''}  incidents open ${this.model.openIncidents()}${(this.screen.width as number) >= 120 ? `  video fps in ${this.model.totalFps.toFixed(0)}` : ''}${s.recording_failures ? `  {red-fg}{bold}recording failures ${s.recording_failures}{/}` : ''}`
        : ` {bold}vigil{/bold} ${this.opts.adminSocket}${state}`,
    );
  }

  private renderTable(): void {
    if (!this.table) return;
    const cols = tableColumns(this.screen.width as number);
    this.tableHead.setContent(tableHeader(cols));
    // The filter is named here rather than in the header, which an 80-column terminal cuts first.
    const filter = this.model.filter ? `, filter "${blessed.escape(this.model.filter)}" (Esc clears)` : '';
    this.tableFrame.setLabel(` Candidates: ${SORT_LABEL[this.model.sort]} (s)${filter} `);
    const empty = this.model.filter ? `no candidate matches "${this.model.filter}"` : 'no candidates connected';
    this.table.show(this.model.visible(), this.model.selectedIndex(), cols, this.rowContext, empty);
  }

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
    this.handleKey(ch, key);
    this.renders.request(true);
  }

  private handleKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
    if (key.full === 'C-c') return this.quit();
    switch (this.mode) {
      case 'filter':
        return; // the textbox has the keys
      case 'help':
        this.closeOverlay();
        return;
      case 'confirm':
        if (ch === 'y' || ch === 'Y') void this.kick(this.confirmId!);
        else this.note('kick cancelled');
        this.confirmId = null;
        this.closeOverlay();
        return;
      case 'preview':
        if (key.name === 'escape' || ch === 'p' || key.name === 'enter') return void this.stopPreview();
        if (ch === 'q') return this.quit();
        return;
      case 'ended':
        return this.endedKey(ch, key);
      case 'main':
        break;
    }
    const sel = this.model.selected();
    if (key.name === 'up' || ch === 'k') this.select(-1);
    else if (key.name === 'down' || ch === 'j') this.select(1);
    else if ((key.name === 'enter' || ch === 'p') && sel) void this.startPreview(sel.id);
    else if (ch === 'w' && sel) this.windows.open(sel.id);
    else if ((ch === 'a' || ch === 'v' || ch === 'b') && sel) void this.setMode(sel.id, ch === 'a' ? 'audio' : ch === 'v' ? 'video' : 'both');
    else if (ch === 'K' && sel) this.askKick(sel.id);
    else if (ch === '/') this.askFilter();
    else if (ch === 's') this.cycleSort();
    else if (ch === 'e') void this.openEnded();
    else if (ch === '?') this.showOverlay('help', ' Help ', HELP);
    else if (key.name === 'escape' && this.model.filter) this.applyFilter('');
    else if (ch === 'q') this.quit();
  }

  private select(delta: number): void {
    this.model.move(delta);
    this.renderTable();
    this.markDirty();
  }

  private cycleSort(): void {
    this.model.setSort(nextSort(this.model.sort));
    this.renderTable();
    this.markDirty();
  }

  private async openEnded(): Promise<void> {
    this.where = [];
    this.showOverlay('ended', ' Ended sessions, most in need of review first ', 'asking the server...');
    try {
      if (!this.client) throw new Error('not connected');
      this.endedList.set(await this.client.ended());
    } catch (err) {
      this.overlay.setContent(`{red-fg}cannot list the ended sessions{/}: ${blessed.escape((err as Error).message)}\n\nEsc closes.`);
      return this.renders.request(true);
    }
    this.renderEnded();
  }

  private renderEnded(): void {
    if (this.mode !== 'ended') return;
    const rows = (this.overlay.height as number) - 2 - (this.where.length ? this.where.length + 1 : 0);
    const list = this.endedList.render(rows, this.model.status?.record_dir ?? null);
    this.overlay.setContent(this.where.length ? `${list}\n\n${this.where.map((l) => blessed.escape(l)).join('\n')}` : list);
    this.renders.request(true);
  }

  private endedKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
    if (key.name === 'escape' || ch === 'e') return this.closeOverlay();
    if (ch === 'q') return this.quit();
    if (key.name === 'up' || ch === 'k') this.endedList.move(-1);
    else if (key.name === 'down' || ch === 'j') this.endedList.move(1);
    else if (key.name === 'enter') {
      const sel = this.endedList.selected();
      if (!sel) return;
      this.where = whereLines(sel, this.model.status?.record_dir ?? null);
      for (const line of this.where) this.note(blessed.escape(line));
    }
    this.renderEnded();
  }

  private showOverlay(mode: Mode, label: string, content: string): void {
    this.mode = mode;
    this.overlay.setLabel(label);
    this.overlay.setContent(content);
    this.overlay.show();
    this.overlay.setFront();
    this.markDirty();
  }

  private closeOverlay(): void {
    this.mode = 'main';
    this.overlay.hide();
    this.markDirty();
  }

  private async command(body: Parameters<AdminLink['command']>[0], what: string): Promise<void> {
    if (!this.client) return this.note(`{red-fg}${what} failed{/}: not connected`);
    try {
      await this.client.command(body);
    } catch (err) {
      this.note(`{red-fg}${what} failed{/}: ${blessed.escape((err as Error).message)}`);
    }
  }

  private setMode(id: string, mode: ModeName): Promise<void> {
    return this.command({ type: 'set_mode', id, mode }, `switching ${id} to ${mode}`);
  }

  private askKick(id: string): void {
    this.confirmId = id;
    this.showOverlay('confirm', ' Kick ', `\n  Kick {bold}${blessed.escape(id)}{/bold}? Their client stops and does not reconnect.\n\n  {bold}y{/bold} yes    {bold}n{/bold} no`);
  }

  private kick(id: string): Promise<void> {
    return this.command({ type: 'kick', id, reason: 'removed by the proctor' }, `kicking ${id}`);
  }

  private askFilter(): void {
    this.mode = 'filter';
    this.footer.hide();
    this.prompt.show();
    this.prompt.setValue(this.model.filter);
    this.prompt.focus();
    this.renders.request();
    this.prompt.readInput((_err, value) => {
      this.prompt.hide();
      this.footer.show();
      this.mode = 'main';
      // Escape cancels: readInput then gives null/undefined and the old filter stays.
      if (typeof value === 'string') this.applyFilter(value);
      this.markDirty();
    });
  }

  private applyFilter(filter: string): void {
    this.model.setFilter(filter);
    this.renderHeader();
    this.renderTable();
    this.markDirty();
  }

  private async startPreview(id: string): Promise<void> {
    this.preview.open(id);
    this.showOverlay('preview', ` Preview ${id} (Esc closes) `, 'waiting for a frame...');
    await this.command({ type: 'preview', id, fps: this.opts.previewFps ?? 5 }, `preview of ${id}`);
  }

  private async stopPreview(): Promise<void> {
    this.preview.close();
    this.closeOverlay();
    await this.command({ type: 'preview_stop' }, 'stopping the preview');
  }

  private quit(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.refresh.close();
    this.renders.close();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.client?.close();
    this.windows.closeAll();
    this.screen.destroy();
    this.done(0);
  }
}

export function runConsole(opts: ConsoleOptions): Promise<number> {
  return new ProctorConsole(opts).run();
}
