import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, test } from 'node:test';
import { GATE_LIMITS } from '../src/detect/motion-gate';
import type { Replay } from './fixtures/gated-replay';
import { MEDIA } from './helpers';

/** What every request did on the sample videos, now and in the old order (test/fixtures/gated-replay.ts, a child process). */
let replay: Replay;

before(async () => {
  const fixture = path.join(__dirname, 'fixtures', 'gated-replay.js');
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [fixture, '--replay'], { env: { ...process.env, VIGIL_MEDIA: MEDIA }, maxBuffer: 64 << 20, timeout: 110_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${fixture}: ${err.message}\n${errOut}`)) : resolve(out),
    ),
  );
  replay = JSON.parse(stdout) as Replay;
});

test('a request decodes its JPEG once, at the quick check\'s scale when it has a face to look for, else at half size; after a gated frame, 1/8 gray first', { timeout: 120_000 }, () => {
  const seen = new Set<string>();
  for (const v of replay) {
    for (const [i, e] of v.now.entries()) {
      // The models' decodes: the quick check's scale, then half size for the full analysis if that is another.
      const models = e.quickScale === null ? [2] : e.kind === 'analysed' && e.quickScale !== 2 ? [e.quickScale, 2] : [e.quickScale];
      const expected = [...(e.likelyStill ? ['gray 8'] : []), ...(e.likelyStill && e.kind === 'gated' ? [] : models.map((r) => `bgr ${r}`))];
      assert.deepEqual(e.decodes, expected, `${v.name}, request ${i} (${e.kind}, quick check at 1/${e.quickScale ?? '-'}, likely still ${e.likelyStill})`);
      seen.add(`${e.likelyStill ? 'likely still, ' : ''}${e.kind} ${e.decodes.length}`);
    }
  }
  // Every path was taken: gated, quick, full in one decode; a failed quick check at 1/4 followed by the 1/2 decode;
  // after a gated frame, gated again on the 1/8 decode alone, or changed and decoded again for the models.
  for (const p of ['analysed 1', 'analysed 2', 'gated 1', 'quick 1', 'likely still, gated 1', 'likely still, analysed 2']) assert.ok(seen.has(p), `${p} not seen: ${[...seen].join('; ')}`);
});

test('one decode gives the same answers and thumbnails as the three decodes did, on consecutive frames of the sample videos', { timeout: 120_000 }, () => {
  let alike = 0;
  for (const v of replay) {
    assert.equal(v.now.length, v.before.length);
    for (const [i, b] of v.before.entries()) {
      const a = v.now[i]!;
      const where = `${v.name} at ${(i * 0.2).toFixed(1)} s`;
      // The thumbnail, made from the 1/2 or 1/4 decode, is the 1/8 decode's to a gray level or two.
      const peak = Math.max(...a.thumbnail.map((g, p) => Math.abs(g - b.thumbnail[p]!)));
      assert.ok(peak <= 2, `${where}: thumbnails differ by ${peak} gray levels`);
      if (a.kind !== b.kind) {
        // Only a frame that sat on the gate's limit may fall on the other side of it.
        const d = b.difference;
        assert.ok(d && (Math.abs(d.peak - GATE_LIMITS.peak) <= 2 || Math.abs(d.mean - GATE_LIMITS.mean) <= 0.2), `${where}: ${b.kind} became ${a.kind} (difference ${JSON.stringify(d)})`);
        assert.ok(a.kind !== 'analysed' && b.kind !== 'analysed', `${where}: ${b.kind} became ${a.kind}`);
        continue;
      }
      alike++;
      assert.deepEqual(a.result, b.result, where);
    }
  }
  assert.ok(alike >= 190, `${alike} requests answered alike`);
});
