// The console's preview overlay: decodes a candidate's frames and draws them at the terminal's colour depth; apart
// from console.ts, which only opens and closes it.
import blessed from 'blessed';
import jpeg from 'jpeg-js';
import type { PreviewFrame } from '../protocol';
import type { ColourDepth } from './colour-depth';
import { FACE_COLOR } from './model';
import { paintCells } from './paint-cells';
import { renderPicture, truecolorEscapes, type Picture } from './picture';

export class PreviewView {
  private id: string | null = null;
  private lastFrame: PreviewFrame | null = null;
  private picture: Picture | null = null;
  private placed: { top: number; left: number; cols: number; rows: number } | null = null;
  /** The picture last written in 24-bit colour: blessed leaves unchanged cells alone, so it stays until replaced. */
  private written: Picture | null = null;

  constructor(
    private readonly screen: blessed.Widgets.Screen,
    private readonly overlay: blessed.Widgets.BoxElement,
    readonly depth: ColourDepth,
    private readonly changed: () => void,
  ) {
    overlay.on('render', () => this.paint());
    // blessed knows 256 colours at most: the 24-bit picture goes over its cells once it has drawn the screen.
    screen.on('render', () => this.paintTruecolor());
  }

  get candidate(): string | null {
    return this.id;
  }

  open(id: string): void {
    this.id = id;
    this.lastFrame = null;
    this.picture = null;
  }

  close(): void {
    this.id = null;
    this.lastFrame = null;
    this.picture = null;
    this.placed = null;
    this.written = null;
    // What the truecolor pass wrote is unknown to blessed: have it redraw every cell next time.
    if (this.depth === 'truecolor') this.screen.realloc();
  }

  /** Decodes and draws a frame of the open candidate, or redraws the last one (after a resize) when given null. */
  show(frame: PreviewFrame | null): void {
    const f = frame ?? this.lastFrame;
    if (!f || f.id !== this.id) return;
    this.lastFrame = f;
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(Buffer.from(f.jpeg, 'base64'), { useTArray: true, maxMemoryUsageInMB: 64 });
    } catch (err) {
      this.overlay.setContent(`cannot decode the frame: ${blessed.escape((err as Error).message)}`);
      this.changed();
      return;
    }
    const cols = (this.overlay.width as number) - 2;
    const rows = (this.overlay.height as number) - 3;
    this.picture = renderPicture({ ...img, channels: 4 }, f.faces, cols, rows, this.depth);
    const colours = this.depth === 'truecolor' ? '24-bit colour' : this.depth === '256' ? '256 colours' : '8 colours: grayscale';
    this.overlay.setContent(
      `${blessed.escape(f.id)}  t=${(f.timestamp_ms / 1000).toFixed(1)} s  face {${FACE_COLOR[f.face] ?? 'white'}-fg}${f.face}{/}  ${f.faces.length} box(es)  ${img.width}x${img.height}  ${colours}`,
    );
    this.changed();
  }

  /** Paints the picture over the overlay once it has drawn itself (see paintCells). */
  private paint(): void {
    const pos = this.overlay.lpos;
    if (!this.picture || !this.id || !pos) return;
    this.placed = paintCells(this.screen, pos, this.picture);
  }

  private paintTruecolor(): void {
    if (this.depth !== 'truecolor' || !this.picture || !this.id || !this.placed || this.overlay.hidden) return;
    if (this.written === this.picture) return;
    this.written = this.picture;
    const { top, left, cols, rows } = this.placed;
    const program = this.screen.program as unknown as { _write(text: string): void };
    program._write(truecolorEscapes(this.picture, top, left, cols, rows));
  }
}
