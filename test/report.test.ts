import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, appendFileSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import puppeteer from 'puppeteer-core';
import { runReport } from '../src/report/report';
import { smallDisk } from './disk';
import { audio, clientArgs, runVigil, sessionDirOf, startServer, tempDir, video } from './helpers';
import { csvRecords, grayFrames, grayImage, meanAbsDiff, parseCsv, recordThreeSessions } from './report-sessions';

const FACE_KINDS = ['no_face', 'misaligned', 'multiple_faces'];

interface JsonlEvent {
  event: string;
  id: number;
  kind: string;
  start_s: number;
  end_s: number | null;
}

function closedIncidents(sdir: string): JsonlEvent[] {
  return readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonlEvent)
    .filter((e) => e.event === 'close');
}

/** Opens a page in Debian's chromium; returns what went wrong on it and a screenshot's luminance spread. */
async function openInChromium(html: string): Promise<{ errors: string[]; order: string[]; images: Array<{ src: string; ok: boolean }>; shot: { std: number; dark: number } }> {
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    // Anything but the page itself and files beside it would be a fetch from the network (a CDN) or a server.
    page.on('request', (r) => {
      if (!r.url().startsWith('file://')) errors.push(`not a local file: ${r.url()}`);
    });
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    // Lazy pictures load as they come into view: load them all now. (Scripts are strings: the tests compile
    // without the DOM's types.)
    await page.evaluate(`Promise.all(Array.from(document.images).map((img) => {
      img.loading = 'eager';
      return img.complete ? null : new Promise((r) => { img.addEventListener('load', r); img.addEventListener('error', r); });
    }))`);
    const seen: unknown = await page.evaluate(`({
      order: Array.from(document.querySelectorAll('section.session h2')).map((h) => (h.childNodes[1] && h.childNodes[1].textContent || '').trim()),
      images: Array.from(document.images).map((i) => ({ src: i.getAttribute('src') || '', ok: i.complete && i.naturalWidth > 0 })),
    })`);
    const { order, images } = seen as { order: string[]; images: Array<{ src: string; ok: boolean }> };
    assert.ok(Array.isArray(order) && Array.isArray(images), 'the page could be read');
    const png = await page.screenshot({ type: 'jpeg', quality: 90, fullPage: true });
    const img = jpeg.decode(Buffer.from(png), { useTArray: true });
    let sum = 0;
    let sq = 0;
    let dark = 0;
    const n = img.width * img.height;
    for (let i = 0; i < n; i++) {
      const y = 0.299 * img.data[i * 4]! + 0.587 * img.data[i * 4 + 1]! + 0.114 * img.data[i * 4 + 2]!;
      sum += y;
      sq += y * y;
      if (y < 100) dark++;
    }
    const mean = sum / n;
    return { errors, order, images, shot: { std: Math.sqrt(sq / n - mean * mean), dark: dark / n } };
  } finally {
    await browser.close();
  }
}

test('vigil report over three real sessions: ranked, a picture per face incident at its start, CSVs, opens in chromium', { timeout: 240_000 }, async (t) => {
  const dir = tempDir(t, 'vigil-report-rec-');
  const out = tempDir(t, 'vigil-report-out-');
  await recordThreeSessions(t, dir);
  const every = sessionDirOf(dir, 'every');
  const everyClosed = closedIncidents(every);
  // The recording itself has every kind: the report is checked against what the server wrote.
  assert.deepEqual([...new Set(everyClosed.map((e) => e.kind))].sort(), ['disconnected', 'misaligned', 'multiple_faces', 'no_face', 'speech']);
  assert.equal(closedIncidents(sessionDirOf(dir, 'clean')).length, 0, 'the clean session has no incident');
  assert.equal(JSON.parse(readFileSync(path.join(sessionDirOf(dir, 'crash'), 'session.json'), 'utf8')).ended, 'in_progress');

  const started = performance.now();
  const r = await runVigil(t, ['report', '--record-dir', dir, '--out', out]).done;
  const took = performance.now() - started;
  t.diagnostic(`vigil report over 3 sessions: ${took.toFixed(0)} ms; stderr: ${r.stderr.trim()}`);
  assert.equal(r.code, 3, 'exit 3: written, but a session is unfinished');
  assert.match(r.stderr, /^vigil report: crash\/\S+: never finalised: session\.json still says in_progress.*recording\.mkv was never finalised/m);
  assert.match(r.stderr, /^vigil report: 3 session\(s\), 2 to review, 1 with problems, \d+ picture\(s\) in [\d.]+ s: /m);

  // Ranked: the session with every incident kind, then the one cut by the kill, then the clean one.
  const sessions = csvRecords(readFileSync(path.join(out, 'sessions.csv'), 'utf8'));
  assert.deepEqual(parseCsv(readFileSync(path.join(out, 'sessions.csv'), 'utf8'))[0], [
    'rank', 'priority', 'candidate_id', 'session_id', 'started_at', 'ended_at', 'duration_s', 'ended', 'end_cause', 'frames_written', 'audio_seconds',
    'frames_lost', 'audio_seconds_lost', 'incidents', 'no_face_s', 'misaligned_s', 'multiple_faces_s', 'speech_s', 'disconnected_s', 'problems', 'folder',
  ]);
  assert.deepEqual(sessions.map((s) => s['candidate_id']), ['every', 'crash', 'clean']);
  assert.deepEqual(sessions.map((s) => s['rank']), ['1', '2', '3']);
  const [ev, cr, cl] = sessions as [Record<string, string>, Record<string, string>, Record<string, string>];
  t.diagnostic(`priorities: every ${ev['priority']}, crash ${cr['priority']}, clean ${cl['priority']}`);
  assert.equal(cl['priority'], '0');
  assert.ok(Number(ev['priority']) > Number(cr['priority']) && Number(cr['priority']) > 0);
  assert.equal(cl['ended'], 'client_bye');
  assert.equal(cl['problems'], '');
  assert.equal(cl['frames_written'], '300');
  assert.equal(ev['ended'], 'client_bye');
  assert.equal(ev['frames_written'], '450');
  assert.equal(ev['incidents'], String(everyClosed.length));
  assert.ok(Math.abs(Number(ev['no_face_s']) - 6) < 1, `no_face ${ev['no_face_s']} s`);
  assert.equal(cr['ended'], 'in_progress');
  assert.match(cr['problems']!, /never finalised/);
  assert.ok(Number(cr['frames_written']) >= 30, `the crash session's recording holds ${cr['frames_written']} frames`);
  assert.equal(cr['folder'], path.relative(dir, sessionDirOf(dir, 'crash')));

  // incidents.csv: exactly the incidents the server wrote, each with its picture when it is a face incident.
  const incidents = csvRecords(readFileSync(path.join(out, 'incidents.csv'), 'utf8'));
  const ofEvery = incidents.filter((i) => i['candidate_id'] === 'every');
  assert.deepEqual(ofEvery.map((i) => [Number(i['incident_id']), i['kind'], Number(i['start_s'])]).sort((a, b) => Number(a[0]) - Number(b[0])),
    everyClosed.map((e) => [e.id, e.kind, e.start_s]).sort((a, b) => Number(a[0]) - Number(b[0])));
  const face = incidents.filter((i) => FACE_KINDS.includes(i['kind']!));
  assert.ok(face.length >= 3);
  assert.ok(incidents.filter((i) => !FACE_KINDS.includes(i['kind']!)).every((i) => i['image'] === ''), 'speech and disconnections get no picture');
  const files = readdirSync(path.join(out, 'img'));
  assert.equal(files.length, face.length, 'one picture per face incident, no more');
  assert.deepEqual(face.map((i) => i['image']).sort(), files.map((f) => `img/${f}`).sort());

  // Each picture is the recording's frame at the incident's start: of all frames 2 s either side, the one most like
  // the picture is within 0.5 s of the start, and the picture matches it closely.
  const mkv = path.join(every, 'recording.mkv');
  for (const i of face) {
    const start = Number(i['start_s']);
    assert.ok(Math.abs(Number(i['image_frame_s']) - start) <= 0.5, `${i['kind']}: frame at ${i['image_frame_s']} s for a start at ${start} s`);
    const pic = await grayImage(path.join(out, i['image']!));
    const frames = await grayFrames(mkv, start - 2, 4);
    assert.ok(frames.length > 40, `${frames.length} frames decoded around ${start} s`);
    const scored = frames.map((f) => ({ t: f.t, d: meanAbsDiff(pic, f.gray) })).sort((a, b) => a.d - b.d);
    const best = scored[0]!;
    t.diagnostic(`${i['kind']} at ${start} s: best frame ${best.t} s (difference ${best.d.toFixed(2)}), next ${scored[1]!.t} s (${scored[1]!.d.toFixed(2)}), worst ${scored.at(-1)!.t} s (${scored.at(-1)!.d.toFixed(2)})`);
    assert.ok(Math.abs(best.t - start) <= 0.5, `${i['kind']}: the picture is most like the frame at ${best.t} s, the incident starts at ${start} s`);
    assert.ok(best.d < 4, `${i['kind']}: mean difference ${best.d.toFixed(2)} gray levels from that frame`);
  }

  // The page: self-contained, every session in rank order, every picture loads, no console error, not blank.
  const html = readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script|<link|https?:\/\//, 'no script, no stylesheet link, no network address');
  assert.match(html, /face boxes not recorded by the server/);
  const page = await openInChromium(path.join(out, 'index.html'));
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.order, ['every', 'crash', 'clean']);
  assert.equal(page.images.length, face.length);
  assert.ok(page.images.every((i) => i.ok), JSON.stringify(page.images));
  t.diagnostic(`screenshot: luminance spread ${page.shot.std.toFixed(1)}, ${(page.shot.dark * 100).toFixed(1)} % dark pixels`);
  assert.ok(page.shot.std > 20 && page.shot.dark > 0.01, `the screenshot is not blank (spread ${page.shot.std}, dark ${page.shot.dark})`);

  await t.test('damaged and half-written sessions are listed with what is wrong, never skipped', async (t2) => {
    const copy = tempDir(t2, 'vigil-report-damaged-');
    const out2 = tempDir(t2, 'vigil-report-out2-');
    const place = (from: string, cand: string): string => {
      const to = path.join(copy, cand, path.basename(from));
      cpSync(from, to, { recursive: true });
      return to;
    };
    const clean = sessionDirOf(dir, 'clean');
    // A copy of the every-kind session cut to 30 % (a partial copy, a failing disk).
    const cut = place(every, 'cut');
    truncateSync(path.join(cut, 'recording.mkv'), Math.floor(statSync(path.join(cut, 'recording.mkv')).size * 0.3));
    // Lines a crash or a full disk cut short.
    const lines = place(every, 'badlines');
    appendFileSync(path.join(lines, 'incidents.jsonl'), 'not json\n{"event":"open","id":99,"ki');
    // No session.json, and a session.json cut in half.
    const nojson = place(clean, 'nojson');
    rmSync(path.join(nojson, 'session.json'));
    const garbled = place(clean, 'garbled');
    const sj = readFileSync(path.join(garbled, 'session.json'), 'utf8');
    writeFileSync(path.join(garbled, 'session.json'), sj.slice(0, sj.length / 2));
    // A session folder the server created and never wrote to.
    mkdirSync(path.join(copy, 'empty', '20261127T090000Z-abcdef'), { recursive: true });
    place(sessionDirOf(dir, 'crash'), 'crash');
    place(clean, 'clean');
    // Face boxes, as a server that records them would write them (this one does not): drawn on the picture.
    const boxes = place(every, 'boxes');
    const jsonl = readFileSync(path.join(boxes, 'incidents.jsonl'), 'utf8').split('\n');
    const withBox = jsonl.map((l) => (/"event":"open".*"kind":"multiple_faces"/.test(l) ? l.replace(/}$/, ',"faces":[{"x":100,"y":120,"w":200,"h":160}]}') : l));
    writeFileSync(path.join(boxes, 'incidents.jsonl'), withBox.join('\n'));

    const progress: string[] = [];
    const err = { write: (s: string) => (progress.push(s), true), isTTY: false } as unknown as NodeJS.WritableStream;
    const res = await runReport({ recordDir: copy, out: out2, err, progressEveryMs: 0 });
    assert.equal(res.exitCode, 3);
    const rows = csvRecords(readFileSync(path.join(out2, 'sessions.csv'), 'utf8'));
    const byFolder = new Map(rows.map((row) => [row['folder']!.split(path.sep)[0]!, row]));
    assert.deepEqual([...byFolder.keys()].sort(), ['badlines', 'boxes', 'clean', 'crash', 'cut', 'empty', 'garbled', 'nojson']);
    const problems = (f: string): string => byFolder.get(f)!['problems']!;
    assert.match(problems('cut'), /^recording\.mkv is cut short: \d+ of \d+ bytes \(a partial copy or a failing disk\); it plays to [\d.]+ s of 30\.0 s, \d+ of the 450 video frames session\.json says were written$/);
    assert.match(problems('badlines'), /incidents\.jsonl: 2 unreadable lines \(\d+, \d+\)/);
    assert.match(problems('nojson'), /no session\.json/);
    assert.equal(byFolder.get('nojson')!['started_at'], sessionStart(nojson), 'the start is read from the session id');
    assert.match(problems('garbled'), /session\.json is unreadable: not valid JSON/);
    assert.match(problems('empty'), /no session\.json.*no recording\.mkv.*no incidents\.jsonl/);
    assert.match(problems('crash'), /never finalised/);
    assert.equal(problems('clean'), '');
    assert.equal(problems('boxes'), '');
    assert.equal(rows.at(-1)!['folder']!.split(path.sep)[0], 'clean', 'the only session with nothing to review ranks last');
    // The box (100,120)-(300,280) on 640x480 is (50,60)-(150,140) on the 320-wide picture: its left edge is green.
    const boxed = [...res.images.entries()].find(([k]) => k.startsWith(`boxes${path.sep}`) && res.ranked.some((s) => s.rel === k.split('#')[0] && s.incidents.some((x) => x.id === Number(k.split('#')[1]) && x.faces)));
    assert.ok(boxed && boxed[1].ok, 'the incident with boxes has a picture');
    const pic = jpeg.decode(readFileSync(path.join(out2, boxed[1].href)), { useTArray: true });
    const px = (x: number, y: number): number[] => Array.from(pic.data.subarray((y * pic.width + x) * 4, (y * pic.width + x) * 4 + 3));
    const [r0, g0, b0] = px(51, 100);
    assert.ok(g0! > 180 && r0! < 120 && b0! < 120, `green box edge, got rgb(${r0},${g0},${b0})`);
    assert.match(readFileSync(res.files.html, 'utf8'), /1 face box\(es\) drawn/);
    // The cut copy still gets the pictures before the cut; those after it say why there is none.
    // Copies of one session under other names keep their own pictures.
    const okImages = [...res.images.values()].filter((i) => i.ok);
    assert.equal(new Set(okImages.map((i) => (i.ok ? i.href : ''))).size, okImages.length, 'one file per picture');
    assert.equal(readdirSync(path.join(out2, 'img')).length, okImages.length);
    const cutImages = [...res.images.entries()].filter(([k]) => k.startsWith(`cut${path.sep}`)).map(([, v]) => v);
    assert.ok(cutImages.some((i) => i.ok) && cutImages.some((i) => !i.ok && /^the recording plays only to [\d.]+ s, before this incident$/.test(i.why)), JSON.stringify(cutImages));
    // Progress, phase by phase, on stderr.
    assert.ok(progress.some((l) => /^vigil report: reading sessions 1\/8\n$/.test(l)), progress.join(''));
    assert.ok(progress.some((l) => /^vigil report: taking pictures \d+\/\d+\n$/.test(l)), progress.join(''));
    const page2 = await openInChromium(res.files.html);
    assert.deepEqual(page2.errors, [], 'a picture that could not be taken is text, not a broken image');
  });
});

function sessionStart(sdir: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(path.basename(sdir))!;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`;
}

test('vigil report: exit codes for a missing or unreadable record dir and a bad --since; --since filters', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'vigil-report-codes-');
  const out = path.join(dir, 'out');
  const missing = await runVigil(t, ['report', '--record-dir', path.join(dir, 'nope'), '--out', out]).done;
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /^vigil report: \S+nope does not exist: point --record-dir at/m);
  writeFileSync(path.join(dir, 'afile'), 'x');
  const notDir = await runVigil(t, ['report', '--record-dir', path.join(dir, 'afile'), '--out', out]).done;
  assert.equal(notDir.code, 5);
  assert.match(notDir.stderr, /is not a directory/);
  const badSince = await runVigil(t, ['report', '--record-dir', dir, '--out', out, '--since', 'yesterday']).done;
  assert.equal(badSince.code, 2);
  assert.match(badSince.stderr, /--since "yesterday": expected an ISO date/);
  const noOut = await runVigil(t, ['report', '--record-dir', dir]).done;
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /required option '--out <dir>' not specified/);
  assert.equal(existsSync(out), false, 'nothing written on bad arguments');

  // Two session folders that only have a name: one old, one from now on; --since keeps the new one.
  const rec = path.join(dir, 'rec');
  mkdirSync(path.join(rec, 'old', '20200101T000000Z-aaaaaa'), { recursive: true });
  const nowId = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  mkdirSync(path.join(rec, 'new', `${nowId}-bbbbbb`), { recursive: true });
  const all = await runVigil(t, ['report', '--record-dir', rec, '--out', out]).done;
  assert.equal(all.code, 3, all.stderr);
  assert.equal(csvRecords(readFileSync(path.join(out, 'sessions.csv'), 'utf8')).length, 2);
  const recent = await runVigil(t, ['report', '--record-dir', rec, '--out', out, '--since', '2h']).done;
  assert.equal(recent.code, 3, recent.stderr);
  assert.deepEqual(csvRecords(readFileSync(path.join(out, 'sessions.csv'), 'utf8')).map((s) => s['candidate_id']), ['new']);
  const none = await runVigil(t, ['report', '--record-dir', rec, '--out', out, '--since', '2099-01-01']).done;
  assert.equal(none.code, 0, none.stderr);
  assert.equal(readFileSync(path.join(out, 'sessions.csv'), 'utf8').split('\r\n').length, 2, 'the header alone');
});

test('vigil report on a full disk: the failed recording is listed with its lost media; a report that cannot be written exits 6', { timeout: 90_000 }, async (t) => {
  // 1 MiB holds about a second and a half of 640x480 video at 15 fps.
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const server = await startServer(t, disk);
  const c = await runVigil(t, clientArgs(server.port, 'full', video('megamind-clip.mp4'), audio('silence-10s.wav'), ['--reconnect', '0'])).done;
  assert.equal(c.code, 6, `the client was told the server could not record: ${c.stdout}`);
  await server.waitForLog((l) => l.msg === 'recording finalised' && l['id'] === 'full');
  await server.stop();

  const out = tempDir(t, 'vigil-report-out3-');
  const r = await runVigil(t, ['report', '--record-dir', disk, '--out', out]).done;
  assert.equal(r.code, 3, r.stderr);
  const [row] = csvRecords(readFileSync(path.join(out, 'sessions.csv'), 'utf8'));
  t.diagnostic(`full disk: ended ${row!['ended']}, priority ${row!['priority']}, problems: ${row!['problems']}`);
  // session.json says recording_failed when there was room to rewrite it; otherwise it is the first one, in_progress.
  if (row!['ended'] === 'recording_failed') {
    assert.match(row!['problems']!, /recording failed: cannot write recording\.mkv at byte \d+: the disk is full/);
    assert.ok(Number(row!['frames_lost']) > 0, `frames lost: ${row!['frames_lost']}`);
    assert.ok(Number(row!['priority']) >= 30, 'recording_failed, lost media and failed writes put it near the top');
  } else {
    assert.equal(row!['ended'], 'in_progress');
    assert.match(row!['problems']!, /never finalised/);
  }

  // The disk is still full: a report written onto it fails loudly.
  const onDisk = await runVigil(t, ['report', '--record-dir', disk, '--out', path.join(disk, 'report')]).done;
  assert.equal(onDisk.code, 6, onDisk.stderr);
  assert.match(onDisk.stderr, /^vigil report: cannot (write|create) \S+ \(ENOSPC\)$/m);
});
