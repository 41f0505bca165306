import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectError, DetectorPool, IncidentTracker, judge } from '../src/detect';
import { MEDIA, edgeShiftedIncidents, runVigil, video } from './helpers';

function csv(file: string): Array<Record<string, string>> {
  const [head, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  const keys = head!.split(',');
  return rows.map((r) => {
    // Only the first columns are read here; quoted notes with commas come last and are not needed.
    const cells = r.split(',');
    return Object.fromEntries(keys.map((k, i) => [k, cells[i] ?? '']));
  });
}

describe('verdict rules', () => {
  const W = 640;
  const H = 480;
  const face = (x: number, y: number, w: number, extra: object = {}) => ({ x, y, w, h: w, score: 0.9, ...extra });
  const judged = (...faces: ReturnType<typeof face>[]) => judge(faces, W, H, DEFAULT_THRESHOLDS);
  test('one face in view is ok wherever it sits; none is no_face', () => {
    assert.equal(judged(face(250, 150, 140)).verdict, 'ok');
    // Off centre, touching nothing: the position alone is never an incident (issue 10, condition 3).
    assert.equal(judged(face(70, 150, 140)).verdict, 'ok');
    assert.equal(judged(face(500, 20, 139)).verdict, 'ok');
    assert.equal(judge([], W, H, DEFAULT_THRESHOLDS, 0.3).verdict, 'no_face');
    assert.equal(judge([], W, H, DEFAULT_THRESHOLDS, 0.3).confidence, 0.7);
  });
  test('misaligned: more than 20 % of the box outside, too small, too large, eyeless', () => {
    // 19 % outside the left edge: still ok; 21 %: misaligned, and the reason names the edge.
    assert.equal(judged(face(-19, 150, 100)).verdict, 'ok');
    assert.deepEqual([judged(face(-21, 150, 100)).verdict, judged(face(-21, 150, 100)).why], ['misaligned', 'face cut by the left edge (21 % outside the picture)']);
    assert.match(judged(face(580, 150, 100)).why, /right edge \(40 %/);
    assert.match(judged(face(250, -45, 100)).why, /top edge \(45 %/);
    assert.equal(judged(face(290, 200, 50)).why, 'face too small (too far from the camera)');
    assert.equal(judged(face(300, 200, 52)).verdict, 'ok');
    assert.equal(judged({ ...face(70, 40, 500), h: 400 }).why, 'face too large (too close to the camera)');
    assert.equal(judged(face(250, 150, 140, { eyes: 0 })).why, 'no eyes visible in the face');
    assert.equal(judged(face(250, 150, 140, { eyes: 2 })).verdict, 'ok');
  });
  test('multiple_faces counts faces at least 5 % of the width; a smaller one beside the candidate does not', () => {
    const two = judge([face(50, 150, 140), { ...face(400, 150, 33), score: 0.8 }], W, H, DEFAULT_THRESHOLDS);
    assert.deepEqual([two.verdict, two.confidence], ['multiple_faces', 0.8]);
    assert.equal(judged(face(50, 150, 140), face(400, 150, 31)).verdict, 'ok');
  });
});

describe('incident debounce', () => {
  test('opens after the state holds, starts at its first frame, closes when ok holds', () => {
    const t = new IncidentTracker(1.0);
    const events: string[] = [];
    const feed = (from: number, to: number, v: 'ok' | 'no_face' | 'misaligned') => {
      for (let s = from; s < to - 1e-9; s += 0.2) for (const e of t.update(Math.round(s * 10) / 10, v, 0.9)) events.push(`${e.type} ${e.incident.kind} ${e.incident.start_s}-${e.incident.end_s}`);
    };
    feed(0, 5, 'ok');
    feed(5, 5.4, 'no_face'); // a blip shorter than 1 s
    feed(5.4, 6, 'ok');
    feed(6, 12, 'no_face');
    feed(12, 18, 'misaligned');
    feed(18, 20, 'ok');
    assert.deepEqual(events, ['open no_face 6-null', 'close no_face 6-12', 'open misaligned 12-null', 'close misaligned 12-18']);
    assert.equal(t.open, null);
  });
  test('an incident open at the end of the session is closed at that time', () => {
    const t = new IncidentTracker(0.5);
    for (let s = 0; s <= 2; s += 0.25) t.update(s, 'multiple_faces', 0.7);
    const [e] = t.finish(2.5);
    assert.equal(e?.type, 'close');
    assert.deepEqual([e?.incident.start_s, e?.incident.end_s, e?.incident.frames], [0, 2.5, 9]);
  });
});

describe('DNN detector on the labelled stills', () => {
  let pool: DetectorPool;
  before(async () => {
    pool = await DetectorPool.start({ detector: 'dnn', thresholds: DEFAULT_THRESHOLDS, size: 2 });
  });
  after(() => pool.close());

  test('face presence is right on every image with exactly 0 or 1 face', async () => {
    const labels = csv(path.join(MEDIA, 'faces', 'labels.csv')).filter((r) => r['faces'] === '0' || r['faces'] === '1');
    assert.ok(labels.length >= 30, `${labels.length} labelled images`);
    const wrong: string[] = [];
    await Promise.all(
      labels.map(async (r) => {
        const result = await pool.analyze(readFileSync(path.join(MEDIA, 'faces', r['file']!)));
        if (result.faces.length !== Number(r['faces'])) wrong.push(`${r['file']}: ${result.faces.length} faces, label ${r['faces']}`);
      }),
    );
    assert.deepEqual(wrong, []);
  });

  test('a broken image fails that frame with a typed error and the pool keeps working', async () => {
    await assert.rejects(pool.analyze(Buffer.from('ffd8ffe000104a464946', 'hex')), (e: unknown) => e instanceof DetectError && e.code === 'VIGIL_ERR_IMAGE_DECODE');
    const ok = await pool.analyze(readFileSync(path.join(MEDIA, 'faces', 'grace-hopper.jpg')));
    assert.equal(ok.faces.length, 1);
  });
});

describe('vigil detect', () => {
  const segments = csv(path.join(MEDIA, 'video', 'segments.csv'));
  const detect = async (t: Parameters<typeof runVigil>[0], file: string) => {
    const r = await runVigil(t, ['detect', '--json', file]).done;
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; t: number; verdict: string; why: string; faces: unknown[] });
  };
  const check = (name: string, frames: Awaited<ReturnType<typeof detect>>, a: number, b: number, accept: string[]) => {
    const inSeg = frames.filter((f) => f.t >= a - 1e-6 && f.t < b - 1e-6);
    const right = inSeg.filter((f) => accept.includes(f.verdict)).length;
    assert.ok(inSeg.length >= Math.floor((b - a) * 15) - 1, `${name} ${a}-${b}: ${inSeg.length} frames`);
    assert.ok(right / inSeg.length >= 0.99, `${name} ${a}-${b} ${accept.join('/')}: ${right}/${inSeg.length} frames right`);
  };
  for (const file of [...new Set(segments.map((s) => s['file']!))]) {
    test(`${file}: per-frame verdicts match every labelled segment (>= 99 %)`, { timeout: 60_000 }, async (t) => {
      const frames = await detect(t, video(file));
      for (const seg of segments.filter((s) => s['file'] === file)) {
        const expected = seg['expected'] === 'face' ? 'ok' : seg['expected']!;
        // The sample's "misaligned" face is 0-19 % outside the frame: by the verdict rules that is ok, or
        // misaligned where our estimate of the hidden part errs high. What must hold is that the face is found.
        // edgeShiftedIncidents (below) moves it out of the picture far enough for the rules to call it misaligned.
        const accept = expected === 'misaligned' ? ['ok', 'misaligned'] : [expected];
        check(file, frames, Number(seg['start_s']), Number(seg['end_s']), accept);
      }
    });
  }
  for (const name of ['candidate-incidents.mp4', 'candidate-incidents-mjpeg.avi'] as const) {
    test(`${name} with its edge segment moved out of the picture: misaligned on >= 99 % of those frames`, { timeout: 90_000 }, async (t) => {
      const frames = await detect(t, await edgeShiftedIncidents(name));
      for (const seg of segments.filter((s) => s['file'] === name)) {
        check(`shifted ${name}`, frames, Number(seg['start_s']), Number(seg['end_s']), [seg['expected'] === 'face' ? 'ok' : seg['expected']!]);
      }
      assert.ok(frames.filter((f) => f.t >= 12 && f.t < 18).every((f) => f.verdict !== 'misaligned' || /left edge/.test(f.why)));
    });
  }

  test('prints an incident table without --json, and honours --analyze-fps', { timeout: 60_000 }, async (t) => {
    const r = await runVigil(t, ['detect', '--analyze-fps', '5', await edgeShiftedIncidents('candidate-incidents.mp4')]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /150 frames analysed over 29\.8 s with dnn/);
    assert.match(r.stdout, /^1\s+no_face\s+6\.00\s+12\.00\s+6s\s+30\s/m);
    assert.match(r.stdout, /^2\s+misaligned\s+12\.00\s+18\.00/m);
    assert.match(r.stdout, /^3\s+multiple_faces\s+18\.00\s+24\.00/m);
  });

  test('an unreadable file: exit 2 and a clear message', async (t) => {
    const r = await runVigil(t, ['detect', '/nonexistent/video.mp4']).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^vigil detect: cannot read \/nonexistent\/video\.mp4/);
  });
});
