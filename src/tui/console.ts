import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import blessed from 'blessed';
import * as contrib from 'blessed-contrib';
import jpeg from 'jpeg-js';
import { AdminClient } from '../admin/client';
import type { AdminLink } from '../admin/link';
import type { CandidateStatus, ModeName, PreviewFrame, ServerEvent } from '../protocol';
import { duration } from '../cli/format';
import { ConsoleModel, FACE_COLOR, eventLine } from './model';
import { halfBlockGrid, type CellGrid } from './preview';
import { paintCells } from './paint-cells';
import { CoalescedRefresh } from './refresh';
import { tableColumns, tableHeader, tableRow } from './candidate-table';
import { FOOTER, HELP } from './console-keys';

export interface ConsoleOptions {
  adminSocket: string;
  /** Another admin source (the NATS cluster) in place of the socket. */
  connect?: () => Promise<AdminLink>;
  /** Preview frames per second asked of the server. Default 5. */
  previewFps?: number;
}

const RENDER_INTERVAL_MS = 100; // at most ~10 redraws a second
const POLL_INTERVAL_MS = 1000;
const EVENT_REFRESH_MS = 100; // events in a burst share one status request
const RECONNECT_MS = 2000;

type Mode = 'main' | 'help' | 'preview' | 'filter' | 'confirm';

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
  private table!: blessed.Widgets.ListElement;
  private tableFrame!: blessed.Widgets.BoxElement;
  private spark!: contrib.Sparkline;
  private log!: blessed.Widgets.Log;
  private footer!: blessed.Widgets.BoxElement;
  private overlay!: blessed.Widgets.BoxElement;
  private prompt!: blessed.Widgets.TextboxElement;
  private mode: Mode = 'main';
  private dirty = true;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private previewId: string | null = null;
  private previewInfo = '';
  private confirmId: string | null = null;
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
    this.timers.push(setInterval(() => this.flush(), RENDER_INTERVAL_MS));
    this.timers.push(setInterval(() => this.refresh.request(), POLL_INTERVAL_MS));
    return finished;
  }

  private build(): void {
    const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'vigil console', warnings: false, autoPadding: true });
    this.screen = screen;
    this.header = blessed.box({ parent: screen, top: 0, left: 0, height: 1, width: '100%', tags: true, style: { bg: 'blue', fg: 'white' } });
    this.tableFrame = blessed.box({ parent: screen, left: 0, width: '100%', border: { type: 'line' }, label: ' Candidates ', tags: true });
    this.tableHead = blessed.box({ parent: this.tableFrame, top: 0, left: 0, height: 1, tags: true, style: { bold: true } });
    this.table = blessed.list({ parent: this.tableFrame, top: 1, left: 0, tags: true, style: { selected: { bg: 'blue', bold: true } } });
    this.spark = contrib.sparkline({ parent: screen, label: ' Throughput ', tags: true, border: { type: 'line' }, style: { fg: 'cyan', titleFg: 'white' } });
    this.log = blessed.log({ parent: screen, label: ' Events ', tags: true, border: { type: 'line' }, scrollback: 1000, scrollbar: { ch: ' ', style: { bg: 'grey' } } });
    this.footer = blessed.box({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', tags: true, content: FOOTER, style: { bg: 'black', fg: 'white' } });
    this.overlay = blessed.box({ parent: screen, top: 1, left: 0, width: '100%', hidden: true, border: { type: 'line' }, tags: true, style: { border: { fg: 'cyan' } } });
    this.overlay.on('render', () => this.paintPreview());
    this.prompt = blessed.textbox({ parent: screen, bottom: 0, left: 0, height: 1, width: '100%', hidden: true, inputOnFocus: false, style: { bg: 'yellow', fg: 'black' } });
    this.layout();
    screen.on('resize', () => {
      this.layout();
      this.renderPreview(null);
      this.markDirty();
    });
    screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg) => this.onKey(ch, key));
  }

  /** Positions computed from the terminal size, so 80x24 and 250x60 both get a usable split. */
  private layout(): void {
    const w = this.screen.width as number;
    const h = this.screen.height as number;
    const body = Math.max(6, h - 2);
    const tableH = Math.max(5, Math.min(body - 6, Math.floor(body * 0.45)));
    const lower = body - tableH;
    Object.assign(this.tableFrame, { top: 1, height: tableH });
    this.tableHead.width = w - 2;
    this.table.width = w - 2;
    this.table.height = Math.max(1, tableH - 3);
    const sparkW = w >= 120 ? Math.floor(w * 0.35) : Math.floor(w * 0.4);
    Object.assign(this.spark, { top: 1 + tableH, left: 0, width: sparkW, height: lower });
    Object.assign(this.log, { top: 1 + tableH, left: sparkW, width: w - sparkW, height: lower });
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
    client.onFrame((f) => this.renderPreview(f));
    await client.subscribe((e) => this.onEvent(e));
    if (this.previewId) await client.command({ type: 'preview', id: this.previewId, fps: this.opts.previewFps ?? 5 }).catch(() => undefined);
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
    this.renderSpark();
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
    this.dirty = true;
  }

  private flush(): void {
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    this.screen.render();
  }

  private renderHeader(): void {
    const s = this.model.status;
    const down = s?.detection?.state === 'down' ? '  {red-fg}{bold}detection unavailable{/}' : '';
    const state = (this.connected ? '' : ' {red-fg}{bold}DISCONNECTED{/}') + down;
    this.header.setContent(
      s
        ? ` {bold}vigil{/bold} ${s.listen}  up ${duration(s.uptime_s)}  candidates ${s.candidates.length}  incidents open ${this.model.openIncidents()}${s.recording_failures ? `  {red-fg}{bold}recording failures ${s.recording_failures}{/}` : ''}${this.model.filter ? `  filter "${this.model.filter}"` : ''}${state}`
        : ` {bold}vigil{/bold} ${this.opts.adminSocket}${state}`,
    );
  }

  private renderTable(): void {
    if (!this.table) return;
    const cols = tableColumns(this.screen.width as number);
    this.tableHead.setContent(tableHeader(cols));
    const rows = this.model.visible().map((c) => tableRow(c, cols));
    this.table.setItems(rows.length ? rows : [this.model.filter ? `no candidate matches "${blessed.escape(this.model.filter)}"` : 'no candidates connected']);
    const i = this.model.selectedIndex();
    if (i >= 0) this.table.select(i);
    // The selection bar draws over the row's own colours; a failed recording stays red under it.
    const bar = (this.table.style as { selected: { fg?: string } }).selected;
    if (this.model.selected()?.write_error) bar.fg = 'red';
    else delete bar.fg;
  }

  private renderSpark(): void {
    const sel = this.model.selected();
    const titles: string[] = [];
    const data: number[][] = [];
    if (sel) {
      titles.push(`${sel.id} video fps`, `${sel.id} audio kbps`);
      data.push([...(this.model.fps.get(sel.id) ?? [0])], [...(this.model.kbps.get(sel.id) ?? [0])]);
    }
    titles.push('all candidates fps');
    data.push([...this.model.totalFps]);
    this.spark.setData(titles, data.map((d) => (d.length ? d : [0])));
  }

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
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
      case 'main':
        break;
    }
    const sel = this.model.selected();
    if (key.name === 'up' || ch === 'k') this.select(-1);
    else if (key.name === 'down' || ch === 'j') this.select(1);
    else if ((key.name === 'enter' || ch === 'p') && sel) void this.startPreview(sel.id);
    else if (ch === 'w') this.openWindow(sel);
    else if ((ch === 'a' || ch === 'v' || ch === 'b') && sel) void this.setMode(sel.id, ch === 'a' ? 'audio' : ch === 'v' ? 'video' : 'both');
    else if (ch === 'K' && sel) this.askKick(sel.id);
    else if (ch === '/') this.askFilter();
    else if (ch === '?') this.showOverlay('help', ' Help ', HELP);
    else if (key.name === 'escape' && this.model.filter) this.applyFilter('');
    else if (ch === 'q') this.quit();
  }

  private select(delta: number): void {
    this.model.move(delta);
    this.renderTable();
    this.renderSpark();
    this.markDirty();
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
    this.markDirty();
    this.flush();
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
    this.renderSpark();
    this.markDirty();
  }

  private async startPreview(id: string): Promise<void> {
    this.previewId = id;
    this.previewInfo = 'waiting for a frame...';
    this.showOverlay('preview', ` Preview ${id} (Esc closes) `, this.previewInfo);
    await this.command({ type: 'preview', id, fps: this.opts.previewFps ?? 5 }, `preview of ${id}`);
  }

  private async stopPreview(): Promise<void> {
    this.previewId = null;
    this.grid = null;
    this.lastFrame = null;
    this.closeOverlay();
    await this.command({ type: 'preview_stop' }, 'stopping the preview');
  }

  private lastFrame: PreviewFrame | null = null;

  /** Decodes and draws a preview frame (or redraws the last one after a resize). */
  private renderPreview(frame: PreviewFrame | null): void {
    const f = frame ?? this.lastFrame;
    if (!f || this.mode !== 'preview' || f.id !== this.previewId) return;
    this.lastFrame = f;
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(Buffer.from(f.jpeg, 'base64'), { useTArray: true, maxMemoryUsageInMB: 64 });
    } catch (err) {
      this.overlay.setContent(`cannot decode the frame: ${blessed.escape((err as Error).message)}`);
      this.markDirty();
      return;
    }
    const cols = (this.overlay.width as number) - 2;
    const rows = (this.overlay.height as number) - 3;
    this.grid = halfBlockGrid({ ...img, channels: 4 }, f.faces, cols, rows);
    const info = `${f.id}  t=${(f.timestamp_ms / 1000).toFixed(1)} s  face {${FACE_COLOR[f.face] ?? 'white'}-fg}${f.face}{/}  ${f.faces.length} box(es)  ${img.width}x${img.height}`;
    this.overlay.setContent(info);
    this.markDirty();
  }

  private grid: CellGrid | null = null;

  /** Paints the preview picture over the overlay once it has drawn itself (see paintCells). */
  private paintPreview(): void {
    const pos = this.overlay.lpos;
    if (!this.grid || this.mode !== 'preview' || !pos) return;
    paintCells(this.screen, pos, this.grid);
  }

  private windows = new Set<ChildProcess>();

  private openWindow(sel: CandidateStatus | null): void {
    if (!sel) return;
    if (!process.env['DISPLAY']) {
      this.note('{yellow-fg}w{/}: no desktop here (DISPLAY is not set); press Enter for the preview in this terminal');
      return;
    }
    // Its own process with no stdio: Qt's messages must not land on this screen.
    const child = spawn(process.execPath, [path.join(__dirname, 'window.js'), this.opts.adminSocket, sel.id], { stdio: 'ignore' });
    this.windows.add(child);
    child.once('exit', (code) => {
      this.windows.delete(child);
      if (code && !this.stopped) this.note(`{red-fg}the window for ${blessed.escape(sel.id)} failed{/} (exit ${code})`);
    });
    this.note(`opened an OpenCV window for ${blessed.escape(sel.id)} on ${blessed.escape(process.env['DISPLAY'])}`);
  }

  private quit(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.refresh.close();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.client?.close();
    for (const w of this.windows) w.kill('SIGTERM');
    this.screen.destroy();
    this.done(0);
  }
}

export function runConsole(opts: ConsoleOptions): Promise<number> {
  return new ProctorConsole(opts).run();
}
