/**
 * The labelled stress set for face detection, made from ../shared/media by ffmpeg filters. Nothing is labelled by
 * hand: each source photo's face box is measured once on the clean photo (UltraFace, the proposer of the default
 * detector, alone and at the source's own scale, where it is sure of the one face), every frame is made by
 * scaling, placing, rotating, dimming or blurring that photo on a background with known numbers, so the face
 * box in the frame follows from the geometry, and the expected verdict is what the verdict rules
 * (src/detect/verdict.ts) say of those boxes. A frame whose label would sit within a hair of a rule's threshold
 * (the face 18-22 % outside, or within 0.5 points of --min-face) is drawn again: no detector's box matches another
 * labeller's to the pixel, so such a label would measure the labeller, not the detector.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { loadOpenCV } from '../../src/detect/opencv';
import { UltraFace } from '../../src/detect/ultraface';
import type { Rect } from '../../src/detect/geometry';
import type { FaceVerdict } from '../../src/detect/types';
import { DEFAULT_THRESHOLDS, judge } from '../../src/detect/verdict';

export const CONDITIONS = [
  'centred',
  'small',
  'off_centre',
  'cut_left',
  'cut_right',
  'cut_top',
  'dim_noise',
  'blur',
  'rotated',
  'two_faces',
  'clutter',
] as const;
export type Condition = (typeof CONDITIONS)[number];

export interface StressFrame {
  file: string;
  condition: Condition;
  expected: FaceVerdict;
  /** Face boxes in the frame by geometry (empty for clutter). */
  faces: Rect[];
  /** What was done, for a reader of labels.csv. */
  recipe: string;
}

const W = 640;
const H = 480;
/** Bump when the recipe changes: the cache is keyed by it. */
const RECIPE_VERSION = 4;

interface Source {
  file: string;
  width: number;
  height: number;
  face: Rect;
}

/** mulberry32: a small seeded generator, so the set is the same on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.trim()}`))));
  });
}

async function parallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function labels(media: string): Array<{ file: string; faces: number }> {
  const [, ...rows] = readFileSync(path.join(media, 'faces', 'labels.csv'), 'utf8').trim().split('\n');
  return rows.map((r) => {
    const [file, faces] = r.split(',');
    return { file: file!, faces: Number(faces) };
  });
}

/** Still frames of the sample videos' one-face segments, as more sources. */
const VIDEO_STILLS: Array<[string, number]> = [
  ['candidate-ok.mp4', 1],
  ['candidate-ok.mp4', 7],
  ['candidate-ok.mp4', 13],
  ['candidate-incidents.mp4', 3],
  ['candidate-incidents.mp4', 27],
  ['megamind-clip.mp4', 1],
  ['megamind-clip.mp4', 3.5],
  ['megamind-clip.mp4', 6],
];

/** Scenes without people, as backgrounds for the placed faces. */
const BACKGROUNDS = ['office-desk.jpg', 'home.jpg', 'desk-objects.jpg', 'building.jpg', 'iceblock.jpg', 'coffee.png', 'fruits.jpg', 'rocket.jpg'];

/** Each one-face photo with its face box, measured on the clean photo. */
async function sources(media: string, work: string): Promise<Source[]> {
  const cv = loadOpenCV();
  const proposer = await UltraFace.load();
  const files = labels(media)
    .filter((l) => l.faces === 1)
    .map((l) => path.join(media, 'faces', l.file));
  for (const [video, t] of VIDEO_STILLS) {
    const out = path.join(work, `src-${path.basename(video, '.mp4')}-${t}.png`);
    await run('ffmpeg', ['-loglevel', 'error', '-y', '-ss', String(t), '-i', path.join(media, 'video', video), '-frames:v', '1', out]);
    files.push(out);
  }
  const out: Source[] = [];
  for (const file of files) {
    const img = cv.imread(file);
    const { faces } = await proposer.propose(img, 0.9);
    // A source is used only where the measurement is unambiguous: exactly one face, clearly found.
    if (faces.length !== 1) continue;
    const f = faces[0]!;
    out.push({ file, width: img.cols, height: img.rows, face: { x: f.x, y: f.y, w: f.w, h: f.h } });
  }
  return out;
}

interface Placement {
  src: Source;
  /** Scaled size of the source photo and its top-left corner in the frame. */
  w: number;
  h: number;
  x: number;
  y: number;
  /** In-plane rotation in degrees (about the photo's centre). */
  angle: number;
}

function faceIn(p: Placement): Rect {
  const kx = p.w / p.src.width;
  const ky = p.h / p.src.height;
  const f = { x: p.x + p.src.face.x * kx, y: p.y + p.src.face.y * ky, w: p.src.face.w * kx, h: p.src.face.h * ky };
  if (p.angle === 0) return f;
  // Rotation moves the face's centre about the photo's centre; its size is kept (the box of the face, not of the tilted square).
  const a = (p.angle * Math.PI) / 180;
  const [pcx, pcy] = [p.x + p.w / 2, p.y + p.h / 2];
  const [dx, dy] = [f.x + f.w / 2 - pcx, f.y + f.h / 2 - pcy];
  const cx = pcx + dx * Math.cos(a) - dy * Math.sin(a);
  const cy = pcy + dx * Math.sin(a) + dy * Math.cos(a);
  return { x: cx - f.w / 2, y: cy - f.h / 2, w: f.w, h: f.h };
}

/** A placement of `src` with its face `faceW` of the frame wide and its face centre at (cx, cy) in the frame. */
function place(src: Source, faceW: number, cx: number, cy: number, angle = 0): Placement {
  const k = (faceW * W) / src.face.w;
  const w = Math.max(2, Math.round(src.width * k));
  const h = Math.max(2, Math.round(src.height * k));
  const kx = w / src.width;
  const ky = h / src.height;
  const x = Math.round(cx - (src.face.x + src.face.w / 2) * kx);
  const y = Math.round(cy - (src.face.y + src.face.h / 2) * ky);
  return { src, w, h, x, y, angle };
}

interface Plan {
  condition: Condition;
  background: string;
  /** Background zoom (>= 1) and the crop's position in [0,1]. */
  zoom: number;
  pan: [number, number];
  flip: boolean;
  people: Placement[];
  post: string;
  recipe: string;
}

function expectedOf(plan: Plan): { expected: FaceVerdict; faces: Rect[] } {
  const faces = plan.people.map(faceIn);
  const boxes = faces.map((f) => ({ ...f, score: 1 }));
  return { expected: judge(boxes, W, H, DEFAULT_THRESHOLDS).verdict, faces };
}

/** True when a photo drawn later covers part of an earlier person's face: that face's label would be a lie. */
function occluded(p: Plan): boolean {
  return p.people.some((q, i) => {
    const f = faceIn(q);
    return p.people.slice(i + 1).some((later) => later.x < f.x + f.w && later.x + later.w > f.x && later.y < f.y + f.h && later.y + later.h > f.y);
  });
}

/** True when a label would sit too near a threshold of the rules to measure a detector (see the top comment). */
function ambiguous(faces: Rect[]): boolean {
  const t = DEFAULT_THRESHOLDS;
  return faces.some((f) => {
    const ix = Math.max(0, Math.min(f.x + f.w, W) - Math.max(f.x, 0));
    const iy = Math.max(0, Math.min(f.y + f.h, H) - Math.max(f.y, 0));
    const inside = (ix * iy) / (f.w * f.h);
    return Math.abs(inside - t.minInside) < 0.02 || Math.abs(f.w / W - t.minFaceWidth) < 0.005 || Math.abs(f.w / W - t.minOtherFace) < 0.005;
  });
}

const INTENDED: Record<Condition, FaceVerdict> = {
  centred: 'ok',
  small: 'ok',
  off_centre: 'ok',
  cut_left: 'misaligned',
  cut_right: 'misaligned',
  cut_top: 'misaligned',
  dim_noise: 'ok',
  blur: 'ok',
  rotated: 'ok',
  two_faces: 'multiple_faces',
  clutter: 'no_face',
};

function plan(condition: Condition, r: () => number, srcs: Source[], negatives: string[]): Plan {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  const between = (a: number, b: number): number => a + (b - a) * r();
  const base = { condition, background: pick(BACKGROUNDS), zoom: between(1, 1.4), pan: [r(), r()] as [number, number], flip: r() < 0.5, post: '', people: [] as Placement[] };
  const src = pick(srcs);
  const fw = between(0.18, 0.38);
  const centred = (): Placement => place(src, fw, W * between(0.38, 0.62), H * between(0.35, 0.55));
  switch (condition) {
    case 'centred':
      return { ...base, people: [centred()], recipe: `face ${pct(fw)} of the width near the centre` };
    case 'small': {
      const w = between(0.08, 0.15);
      const p = place(src, w, W * between(0.2, 0.8), H * between(0.25, 0.65));
      return { ...base, people: [p], recipe: `face ${pct(w)} of the width` };
    }
    case 'off_centre': {
      // Centre 12-30 % of the width from the left or right edge, the whole face in view.
      const w = between(0.15, 0.3);
      const d = between(Math.max(0.12, w / 2 + 0.02), 0.3);
      const cx = r() < 0.5 ? d : 1 - d;
      return { ...base, people: [place(src, w, W * cx, H * between(0.3, 0.6))], recipe: `face ${pct(w)} wide, centre ${pct(d)} from the ${cx < 0.5 ? 'left' : 'right'} edge` };
    }
    case 'cut_left':
    case 'cut_right':
    case 'cut_top': {
      // Beyond about half, a cut at the top takes both eyes: what is left (nose, mouth, chin) is no longer a face
      // to any detector, so top cuts stop at 45 %. Left and right cuts go to 60 %.
      const c = between(0.2, condition === 'cut_top' ? 0.45 : 0.6);
      const f = src.face;
      const k = (fw * W) / f.w;
      const fh = f.h * k;
      let cx = W * between(0.3, 0.7);
      let cy = H * between(0.35, 0.55);
      if (condition === 'cut_left') cx = fw * W * (0.5 - c);
      if (condition === 'cut_right') cx = W - fw * W * (0.5 - c);
      if (condition === 'cut_top') cy = fh * (0.5 - c);
      return { ...base, people: [place(src, fw, cx, cy)], recipe: `face ${pct(fw)} wide, ${pct(c)} of its box outside the ${condition.slice(4)} edge` };
    }
    case 'dim_noise':
      return { ...base, people: [centred()], post: 'lutrgb=r=val*0.5:g=val*0.5:b=val*0.5,noise=alls=14:allf=t', recipe: `face ${pct(fw)} wide, brightness x0.5, noise 14` };
    case 'blur': {
      const s = between(1.5, 3.5);
      return { ...base, people: [centred()], post: `gblur=sigma=${s.toFixed(2)}`, recipe: `face ${pct(fw)} wide, Gaussian blur sigma ${s.toFixed(1)}` };
    }
    case 'rotated': {
      const a = (r() < 0.5 ? -1 : 1) * between(5, 15);
      return { ...base, people: [place(src, fw, W * between(0.4, 0.6), H * between(0.38, 0.52), a)], recipe: `face ${pct(fw)} wide, rotated ${a.toFixed(1)} deg` };
    }
    case 'two_faces': {
      const other = pick(srcs.filter((s) => s !== src));
      const small = between(0.08, 0.14);
      const leftMain = r() < 0.5;
      const main = place(src, Math.min(fw, 0.3), W * (leftMain ? between(0.28, 0.4) : between(0.6, 0.72)), H * between(0.35, 0.55));
      const second = place(other, small, W * (leftMain ? between(0.75, 0.88) : between(0.12, 0.25)), H * between(0.2, 0.6));
      return { ...base, people: [main, second], recipe: `faces ${pct(Math.min(fw, 0.3))} and ${pct(small)} wide` };
    }
    case 'clutter': {
      const dim = r() < 0.3;
      return { ...base, background: pick(negatives), zoom: between(1, 1.6), post: dim ? 'lutrgb=r=val*0.6:g=val*0.6:b=val*0.6' : '', recipe: `no person${dim ? ', dimmed' : ''}` };
    }
  }
}

function pct(f: number): string {
  return `${Math.round(f * 100)} %`;
}

/** The ffmpeg arguments that render one planned frame. */
function ffmpegArgs(media: string, p: Plan, out: string): string[] {
  const bg = BACKGROUNDS.includes(p.background) || !p.background.includes('/') ? path.join(media, 'faces', p.background) : p.background;
  const inputs = ['-i', bg];
  const bw = Math.ceil(W * p.zoom);
  const bh = Math.ceil(H * p.zoom);
  const chains = [
    `[0:v]scale=${bw}:${bh}:force_original_aspect_ratio=increase,crop=${W}:${H}:(iw-${W})*${p.pan[0].toFixed(3)}:(ih-${H})*${p.pan[1].toFixed(3)}${p.flip ? ',hflip' : ''},format=rgba[b0]`,
  ];
  p.people.forEach((q, i) => {
    inputs.push('-i', q.src.file);
    const rot = q.angle ? `,rotate=${((q.angle * Math.PI) / 180).toFixed(5)}:ow=rotw(${((q.angle * Math.PI) / 180).toFixed(5)}):oh=roth(${((q.angle * Math.PI) / 180).toFixed(5)}):c=none` : '';
    // Rotation grows the picture about its centre: shift it back so the centre stays where planned.
    const a = (Math.abs(q.angle) * Math.PI) / 180;
    const rw = q.angle ? Math.ceil(q.w * Math.cos(a) + q.h * Math.sin(a)) : q.w;
    const rh = q.angle ? Math.ceil(q.w * Math.sin(a) + q.h * Math.cos(a)) : q.h;
    const x = Math.round(q.x - (rw - q.w) / 2);
    const y = Math.round(q.y - (rh - q.h) / 2);
    chains.push(`[${i + 1}:v]scale=${q.w}:${q.h},format=rgba${rot}[p${i}]`);
    chains.push(`[b${i}][p${i}]overlay=${x}:${y}[b${i + 1}]`);
  });
  const last = `b${p.people.length}`;
  chains.push(`[${last}]${p.post ? `${p.post},` : ''}format=yuvj420p[out]`);
  return ['-loglevel', 'error', '-y', ...inputs, '-filter_complex', chains.join(';'), '-map', '[out]', '-frames:v', '1', '-q:v', '7', out];
}

/** Frames per condition in the default set. */
export const PER_CONDITION = 100;

/**
 * Builds the set (or reuses the cached one) and returns its frames. The cache lives in the system's temp dir,
 * keyed by the recipe version, the media checksums and the count, and is written whole before it is used.
 */
export async function stressSet(media: string, perCondition = PER_CONDITION, log: (s: string) => void = () => {}): Promise<{ dir: string; frames: StressFrame[] }> {
  const sums = existsSync(path.join(media, 'SHA256SUMS')) ? readFileSync(path.join(media, 'SHA256SUMS')) : Buffer.from(media);
  const key = createHash('sha256').update(`${RECIPE_VERSION}:${perCondition}:`).update(sums).digest('hex').slice(0, 12);
  const dir = path.join(tmpdir(), `vigil-stress-${key}`);
  const index = path.join(dir, 'labels.json');
  if (existsSync(index)) return { dir, frames: JSON.parse(readFileSync(index, 'utf8')) as StressFrame[] };

  const work = `${dir}.${process.pid}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const srcs = await sources(media, work);
  const negatives = labels(media)
    .filter((l) => l.faces === 0)
    .map((l) => path.join(media, 'faces', l.file));
  log(`stress set: ${srcs.length} source faces, ${negatives.length} scenes without faces, ${perCondition} frames per condition`);
  const r = rng(20261127);
  const jobs: Array<{ p: Plan; frame: StressFrame }> = [];
  for (const condition of CONDITIONS) {
    for (let i = 0; i < perCondition; i++) {
      let p: Plan;
      let e: ReturnType<typeof expectedOf>;
      let tries = 0;
      do {
        p = plan(condition, r, srcs, negatives);
        e = expectedOf(p);
        if (++tries > 1000) throw new Error(`cannot plan a ${condition} frame`);
      } while (e.expected !== INTENDED[condition] || ambiguous(e.faces) || occluded(p));
      const file = `${condition}-${String(i).padStart(3, '0')}.jpg`;
      jobs.push({ p, frame: { file, condition, expected: e.expected, faces: e.faces.map(roundRect), recipe: `${p.recipe}; on ${path.basename(p.background)}` } });
    }
  }
  let done = 0;
  await parallel(jobs, availableParallelism(), async ({ p, frame }) => {
    await run('ffmpeg', ffmpegArgs(media, p, path.join(work, frame.file)));
    if (++done % 100 === 0) log(`stress set: ${done}/${jobs.length} frames`);
  });
  const frames = jobs.map((j) => j.frame);
  writeFileSync(path.join(work, 'labels.json'), JSON.stringify(frames, null, 1));
  writeFileSync(path.join(work, 'labels.csv'), ['file,condition,expected,faces,recipe', ...frames.map((f) => `${f.file},${f.condition},${f.expected},"${f.faces.map((b) => `${b.x} ${b.y} ${b.w} ${b.h}`).join('; ')}","${f.recipe}"`)].join('\n') + '\n');
  try {
    renameSync(work, dir);
  } catch {
    // Another process built the same set first: use theirs.
    rmSync(work, { recursive: true, force: true });
  }
  return { dir, frames: JSON.parse(readFileSync(index, 'utf8')) as StressFrame[] };
}

function roundRect(b: Rect): Rect {
  return { x: Math.round(b.x), y: Math.round(b.y), w: Math.round(b.w), h: Math.round(b.h) };
}
