import { BLAZEFACE_INPUT, BlazeFace, windowOf, type BlazeHit, type Window } from './blazeface';
import { iou, nms, type Rect } from './geometry';
import type { CV, Mat } from './opencv';
import type { FaceBox } from './types';
import { UltraFace, type Proposal } from './ultraface';

export interface DnnOptions {
  /** UltraFace score a proposal needs (its authors' default is 0.7). */
  proposeScore: number;
  /** UltraFace score a proposal touching the frame's edge needs: a cut face scores lower. */
  proposeEdgeScore: number;
  /** BlazeFace score a proposal needs in its second look. */
  verifyScore: number;
  /** BlazeFace score a proposal touching the frame's edge needs: cut faces score lower, even mirrored. */
  verifyEdgeScore: number;
  /** BlazeFace score a face found by the edge scan needs (see edgeScan). */
  edgeScanScore: number;
}

export const DEFAULT_DNN: Readonly<DnnOptions> = Object.freeze({ proposeScore: 0.7, proposeEdgeScore: 0.3, verifyScore: 0.75, verifyEdgeScore: 0.6, edgeScanScore: 0.75 });

/** Proposals looked at per frame, best first: a room full of faces costs a bounded time. */
const MAX_PROPOSALS = 6;
/** BlazeFace sees a square window this many times the proposal's larger side (a face fills about half of it). */
const WINDOW = 2.2;
/**
 * A box edge within this fraction of the frame's edge touches it: the frame may be cutting the face. UltraFace's
 * box of a face cut at the top starts at the brows, well below the frame's edge, hence the wider margin there.
 */
const TOUCH = 0.025;
const TOUCH_TOP = 0.05;
/** BlazeFace hits above this score in the quick check's window count as faces there (see track). */
const QUICK_DOUBT = 0.5;

/**
 * The default detector: UltraFace proposes faces at 320x240 (small and distant ones included), BlazeFace looks
 * again at a window around each proposal, and only faces both models agree on count. For a face the frame cuts,
 * UltraFace boxes the visible part; its full box is estimated from BlazeFace's prediction (see fullBox).
 */
export class DnnDetector {
  readonly name = 'dnn';
  bestRejected = 0;

  private constructor(
    private readonly cv: CV,
    private readonly proposer: UltraFace,
    private readonly verifier: BlazeFace,
    private readonly opts: DnnOptions,
  ) {}

  static async load(cv: CV, opts: DnnOptions = DEFAULT_DNN): Promise<DnnDetector> {
    const [proposer, verifier] = await Promise.all([UltraFace.load(), BlazeFace.load(cv)]);
    return new DnnDetector(cv, proposer, verifier, opts);
  }

  async detect(img: Mat): Promise<FaceBox[]> {
    const o = this.opts;
    const { faces: all, bestRejected } = await this.proposer.propose(img, Math.min(o.proposeScore, o.proposeEdgeScore));
    this.bestRejected = bestRejected;
    const faces: FaceBox[] = [];
    for (const p of all.slice(0, MAX_PROPOSALS)) {
      const edge = touchesEdge(p, img.cols, img.rows);
      if (p.score < (edge ? o.proposeEdgeScore : o.proposeScore)) {
        this.bestRejected = Math.max(this.bestRejected, p.score);
        continue;
      }
      const side = Math.max(p.w, p.h) * WINDOW;
      // Past the frame's edge the window is the frame mirrored, not black: a face cut by the edge then still looks
      // like a face (measured on the stress set's cut faces: BlazeFace's median score 0.45 with black, 0.92 mirrored).
      const hits = await this.verifier.inspect(img, { x: p.x + p.w / 2 - side / 2, y: p.y + p.h / 2 - side / 2, side }, 0.3, 'reflect');
      const hit = bestMatch(p, hits);
      const score = hit?.score ?? 0;
      if (score < (edge ? o.verifyEdgeScore : o.verifyScore)) {
        this.bestRejected = Math.max(this.bestRejected, Math.min(p.score, score));
        continue;
      }
      faces.push({ ...fullBox(p, hit!, img.cols, img.rows), score: Math.min(p.score, score) });
    }
    if (faces.length === 0) {
      const cut = await this.edgeScan(img);
      if (cut) faces.push(cut);
    }
    // Two proposals can be the same face (the visible part and a larger box around it): one face each.
    return nms(faces, 0.2);
  }

  /**
   * The quick check between full analyses (README, "Motion gating"): BlazeFace alone on a window around `last`,
   * the face the last full analysis found (UltraFace's box convention, this image's pixels). The face it returns
   * is that face again, moved a little: exactly one confident face in the window, overlapping the last one, of
   * similar size and clear of the frame's edges. Anything else is null, and the caller runs the full cascade:
   * this window cannot see a second face elsewhere, a face leaving the picture or one UltraFace would not confirm.
   */
  async track(img: Mat, last: Rect): Promise<FaceBox | null> {
    const side = Math.max(last.w, last.h) * WINDOW;
    const hits = await this.verifier.inspect(img, { x: last.x + last.w / 2 - side / 2, y: last.y + last.h / 2 - side / 2, side }, QUICK_DOUBT, 'reflect');
    // A second face in the window, even a doubtful one, is for the full cascade to judge.
    if (hits.length !== 1 || hits[0]!.score < this.opts.verifyScore) return null;
    const box = ultraFaceBox(hits[0]!);
    const moved = Math.hypot(box.x + box.w / 2 - (last.x + last.w / 2), box.y + box.h / 2 - (last.y + last.h / 2));
    if (iou(box, last) <= 0.3 && moved >= last.w / 2) return null;
    if (box.w < 0.7 * last.w || box.w > 1.4 * last.w) return null;
    // BlazeFace's square box reaches further out than the UltraFace box made from it; how much further varies from
    // face to face (UltraFace boxed a wide face 20 px beyond the conversion), so neither may touch an edge.
    if (touchesEdge(box, img.cols, img.rows) || touchesEdge(hits[0]!, img.cols, img.rows)) return null;
    return { ...box, score: hits[0]!.score };
  }

  /**
   * The quick check's window around `last` shown to BlazeFace at its input size (128 px): the frame may be decoded
   * as many times smaller as keeps that window at least that wide, so BlazeFace sees the same detail.
   */
  trackReduction(last: Rect): number {
    const side = Math.max(last.w, last.h) * WINDOW;
    for (const r of [8, 4, 2]) if (side / r >= BLAZEFACE_INPUT) return r;
    return 1;
  }

  /**
   * A face more than half outside the frame is too little of a face for UltraFace. Seen in a window that
   * straddles the edge, with the frame mirrored beyond it, its visible part and its mirror image make a whole
   * face centred on the edge, which BlazeFace finds. Only frames with no face at all are scanned (about 14
   * BlazeFace runs, ~20 ms): a face found this way is reported centred on the edge, half outside, which the
   * verdict calls misaligned, as a face that far out of the picture is.
   */
  private async edgeScan(img: Mat): Promise<FaceBox | null> {
    let best: { box: FaceBox; hit: BlazeHit; win: EdgeWindow } | null = null;
    for (const win of edgeWindows(img.cols, img.rows)) {
      for (const h of await this.verifier.inspect(img, win, this.opts.edgeScanScore, 'reflect')) {
        const cx = h.x + h.w / 2;
        const cy = h.y + h.h / 2;
        const onEdge = win.edge === 'left' ? Math.abs(cx) : win.edge === 'right' ? Math.abs(cx - img.cols) : Math.abs(cy);
        if (onEdge > 0.25 * h.w || (best && best.box.score >= h.score)) continue;
        const uf = ultraFaceBox(h);
        const x = win.edge === 'left' ? -uf.w / 2 : win.edge === 'right' ? img.cols - uf.w / 2 : uf.x;
        const y = win.edge === 'top' ? -uf.h / 2 : uf.y;
        best = { box: { x, y, w: uf.w, h: uf.h, score: h.score }, hit: h, win };
      }
    }
    // A mirrored window is symmetric, and symmetric clutter can look like a face to one model (an office shelf
    // scored 0.76): UltraFace must find the same face in the same mirrored window.
    return best && (await this.confirmMirrored(img, best.win, best.hit)) ? best.box : null;
  }

  /** UltraFace's opinion of a BlazeFace hit in a mirrored window, the window shown to it undistorted at 4:3. */
  private async confirmMirrored(img: Mat, win: EdgeWindow, hit: BlazeHit): Promise<boolean> {
    const square = windowOf(this.cv, img, win, 'reflect');
    if (!square) return false;
    const pad = Math.round(square.cols / 6);
    const wide = square.copyMakeBorder(0, 0, pad, pad, this.cv.BORDER_CONSTANT, new this.cv.Vec3(0, 0, 0));
    square.release();
    const { faces } = await this.proposer.propose(wide, this.opts.proposeScore);
    wide.release();
    const inWide = { x: hit.x - win.x + pad, y: hit.y - win.y, w: hit.w, h: hit.h };
    return faces.some((f) => iou(f, inWide) > 0.3);
  }
}

type EdgeWindow = Window & { edge: 'left' | 'right' | 'top' };

/** Square windows centred on the left, right and top edges, at two sizes, overlapping by half. */
function edgeWindows(width: number, height: number): EdgeWindow[] {
  const out: EdgeWindow[] = [];
  for (const side of [height / 2, height * 0.9]) {
    const along = (length: number): number[] => {
      const starts: number[] = [];
      for (let at = 0; ; at += side / 2) {
        starts.push(Math.max(0, Math.min(at, length - side)));
        if (at + side >= length) break;
      }
      return [...new Set(starts)];
    };
    for (const y of along(height)) {
      out.push({ edge: 'left', x: -side / 2, y, side });
      out.push({ edge: 'right', x: width - side / 2, y, side });
    }
    for (const x of along(width)) out.push({ edge: 'top', x, y: -side / 2, side });
  }
  return out;
}

function touchesEdge(p: Rect, width: number, height: number): boolean {
  const tx = TOUCH * width;
  const ty = TOUCH * height;
  return p.x <= tx || p.y <= TOUCH_TOP * height || p.x + p.w >= width - tx || p.y + p.h >= height - ty;
}

/** The BlazeFace hit that is this proposal's face, if any. */
function bestMatch(p: Proposal, hits: BlazeHit[]): BlazeHit | null {
  let best: BlazeHit | null = null;
  for (const h of hits) if (iou(p, h) > 0.25 && (!best || h.score > best.score)) best = h;
  return best;
}

/*
 * UltraFace's box of an uncut face, relative to BlazeFace's box of the same face: same centre, 0.89 of its width,
 * 1.09 of it in height (BlazeFace boxes are square). Measured on the uncut faces of the stress set (bench/detect).
 */
const UF_PER_BF_W = 0.89;
const UF_PER_BF_H = 1.12;
/** Height over width of the tallest UltraFace boxes of uncut faces (the 90th percentile on the stress set). */
const TALLEST = 1.5;
/** UltraFace's box sits this much (of BlazeFace's width) higher than BlazeFace's, which centres on the nose. */
const UF_RAISE = 0.09;

/** The box UltraFace would give the face BlazeFace boxed (an uncut face): narrower, taller, a little higher. */
export function ultraFaceBox(hit: Rect): Rect {
  const w = hit.w * UF_PER_BF_W;
  const h = hit.w * UF_PER_BF_H;
  return { x: hit.x + hit.w / 2 - w / 2, y: hit.y + hit.h / 2 - UF_RAISE * hit.w - h / 2, w, h };
}

/**
 * The face's whole box in UltraFace's convention. Where the proposal stays clear of the frame's edges it is that
 * box. Where it touches an edge, the frame may be hiding part of the face and UltraFace boxes only what it sees;
 * BlazeFace, looking at a window that reaches past the edge, predicts the whole face from what is visible, so
 * the box is rebuilt from its centre and size in that direction.
 */
export function fullBox(p: Rect, hit: BlazeHit, width: number, height: number): Rect {
  const tx = TOUCH * width;
  const ty = TOUCH * height;
  // Only the directions in which the frame may hide the face are rebuilt.
  const uf = ultraFaceBox(hit);
  const cx = uf.x + uf.w / 2;
  const cy = uf.y + uf.h / 2;
  const { w, h } = uf;
  let { x, y, w: bw, h: bh } = p;
  if (p.x <= tx || p.x + p.w >= width - tx) {
    x = Math.min(x, cx - w / 2);
    bw = Math.max(p.x + p.w, cx + w / 2) - x;
  }
  if (p.y <= TOUCH_TOP * height) {
    // A cut at the top leaves the width whole. How tall the face is above what shows varies more from face to face
    // (UltraFace's boxes run from 1.1 to 1.5 times their width) than BlazeFace's prediction tells: take the taller
    // of the two, so that a forehead leaving the picture is warned about rather than missed.
    const bottom = p.y + p.h;
    y = Math.min(y, cy - h / 2, bottom - p.w * TALLEST);
    bh = bottom - y;
  } else if (p.y + p.h >= height - ty) {
    bh = Math.max(p.y + p.h, cy + h / 2) - y;
  }
  return { x, y, w: bw, h: bh };
}
