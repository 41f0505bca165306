import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { VoiceActivityDetector, levelDbfs, type VadFrame } from '../src/detect/vad';
import { WavFileSource } from '../src/media/wav-file';
import { MEDIA, audio, clientArgs, readJson, runVigil, sessionDirOf, startServer, tempDir } from './helpers';
import type { SessionRecord } from '../src/server';

const LABELS = readFileSync(path.join(MEDIA, 'audio', 'segments.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(','))
  .map(([file, start, end, expected]) => ({ file: file!, start: Number(start), end: Number(end), speech: expected === 'speech' }));

async function frames(file: string): Promise<VadFrame[]> {
  const w = await WavFileSource.open(audio(file));
  const vad = new VoiceActivityDetector(w.format.sampleRate, w.format.channels);
  const out: VadFrame[] = [];
  for await (const chunk of w.chunks(40)) out.push(...vad.push(chunk));
  return [...out, ...vad.flush()];
}

for (const file of [...new Set(LABELS.map((l) => l.file))]) {
  test(`voice activity: at least 95 % of 100 ms windows right on ${file}`, async () => {
    const fs = await frames(file);
    const windows = new Map<number, { n: number; speech: number }>();
    for (const f of fs) {
      const w = windows.get(Math.floor(f.t * 10 + 1e-6)) ?? { n: 0, speech: 0 };
      w.n++;
      if (f.speech) w.speech++;
      windows.set(Math.floor(f.t * 10 + 1e-6), w);
    }
    let right = 0;
    let total = 0;
    for (const [k, w] of windows) {
      const mid = k / 10 + 0.05;
      const label = LABELS.find((l) => l.file === file && mid >= l.start && mid < l.end);
      if (!label) continue;
      total++;
      if (w.speech * 2 > w.n === label.speech) right++;
    }
    assert.ok(total > 90, `${total} windows`);
    assert.ok(right / total >= 0.95, `${file}: ${right}/${total} windows right`);
  });
}

test('the level of a frame is the same whether its samples sit at an even or an odd byte offset', async () => {
  const w = await WavFileSource.open(audio('speech-16k-mono.wav'));
  let checked = 0;
  for await (const chunk of w.chunks(40)) {
    // Copied one byte in, the samples cannot be read as an Int16Array: the other path must give the same figure.
    const odd = Buffer.alloc(chunk.length + 1);
    chunk.copy(odd, 1);
    const even = Buffer.from(chunk);
    const samples = chunk.length / 2;
    assert.equal(levelDbfs(even, 0, samples), levelDbfs(odd, 1, samples));
    assert.equal(levelDbfs(even, 2, samples - 1), levelDbfs(odd, 3, samples - 1));
    if (++checked === 50) break;
  }
  assert.equal(checked, 50);
});

test('a candidate streaming speech-silence-speech.wav gets two speech incidents at the labelled boundaries', { timeout: 40_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const r = await runVigil(t, clientArgs(server.port, 'talker', null, audio('speech-silence-speech.wav'))).done;
  assert.equal(r.code, 0, r.stderr);
  const sdir = sessionDirOf(dir, 'talker');
  const speech = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number; end_s: number })
    .filter((e) => e.event === 'close' && e.kind === 'speech');
  assert.equal(speech.length, 2, JSON.stringify(speech));
  const expected = LABELS.filter((l) => l.file === 'speech-silence-speech.wav' && l.speech);
  for (const [i, inc] of speech.entries()) {
    assert.ok(Math.abs(inc.start_s - expected[i]!.start) <= 0.5, `speech ${i + 1} starts at ${inc.start_s}, label ${expected[i]!.start}`);
    assert.ok(Math.abs(inc.end_s - expected[i]!.end) <= 0.5, `speech ${i + 1} ends at ${inc.end_s}, label ${expected[i]!.end}`);
  }
  assert.equal(readJson<SessionRecord>(path.join(sdir, 'session.json')).incidents, 2);
});
