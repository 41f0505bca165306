import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { AdminClient } from '../src/admin/client';
import type { SessionRecord } from '../src/server';
import { flakyLink } from './flaky-link';
import { audio, execText, readJson, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, video, waitUntil, type RunningServer } from './helpers';

const CHROMIUM = '/usr/bin/chromium';

/** A camera file for chromium's fake device: `seconds` of a sample video from `from`, 640x480 at 15 fps. */
async function fakeCamera(dir: string, name: string, from: number, seconds: number): Promise<string> {
  const out = path.join(dir, `${path.parse(name).name}-${from}.y4m`);
  if (!existsSync(out)) {
    await execText('ffmpeg', ['-v', 'error', '-y', '-ss', String(from), '-t', String(seconds), '-i', video(name), '-vf', 'scale=640:480,fps=15', '-pix_fmt', 'yuv420p', out]);
  }
  return out;
}

async function launch(t: { after(fn: () => Promise<void>): void }, camera: string): Promise<Browser> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${camera}`,
      `--use-file-for-fake-audio-capture=${audio('speech-16k-mono.wav')}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  t.after(() => browser.close());
  return browser;
}

/** Collects what the page logs as errors: the test fails on any. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
  return errors;
}

async function link(t: { after(fn: () => void): void }, server: RunningServer, id: string, port: number): Promise<string> {
  const r = await runVigil(t, ['token', 'issue', '--id', id, '--url', `http://127.0.0.1:${port}/`, '--secret-file', path.join(server.recordDir, 'vigil.secret')]).done;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').at(-1)!;
}

const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (el) => el.textContent ?? '');

async function waitText(page: Page, sel: string, re: RegExp, timeoutMs = 30_000): Promise<string> {
  let last = '';
  await waitUntil(`${sel} to match ${re}`, async () => re.test((last = await text(page, sel))), { seen: () => last, timeoutMs });
  return last;
}

test('a candidate needs only the link: the page streams H.264 + Opus, shows the server\'s face warnings, obeys a mode switch and a kick', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  // From 4 s in, the incidents clip shows a face, then no face from about 6 s on.
  const camera = await fakeCamera(dir, 'candidate-incidents.mp4', 4, 8);
  const server = await startServer(t, path.join(dir, 'rec'), ['--web-port', '0', '--auth', 'tokens']);
  const port = (await server.waitForLog((l) => l.msg === 'web listening'))['port'] as number;
  const url = await link(t, server, 'web.one', port);
  const browser = await launch(t, camera);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  assert.equal(await text(page, '#candidate'), 'web.one');
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.click('#start');
  await waitText(page, '#conn', /^connected/);
  const warning = await waitText(page, '#warning', /face/i, 60_000);
  assert.match(warning, /We cannot see your face|face is not fully|Another face/);

  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  let seen = '';
  await waitUntil(
    'the server records the page\'s H.264 and Opus, analyses its snapshots and opens the face incident',
    async () => {
      const c = (await admin.status()).candidates.find((x) => x.id === 'web.one');
      seen = JSON.stringify(c ? { frames: c.frames_recorded, audio: c.audio_s, analyses: c.analyses, incident: c.incident } : null);
      // The speech in the fake microphone opens speech incidents too: wait for a face incident in the timeline.
      const timeline = c ? path.join(dir, 'rec', 'web.one', c.session_id, 'incidents.jsonl') : '';
      const faceIncident = c !== undefined && existsSync(timeline) && /"kind":"(no_face|misaligned|multiple_faces)"/.test(readFileSync(timeline, 'utf8'));
      return !!c && c.frames_recorded >= 45 && c.audio_s >= 3 && c.analyses >= 3 && faceIncident;
    },
    { seen: () => seen, timeoutMs: 60_000 },
  );
  await admin.command({ type: 'set_mode', id: 'web.one', mode: 'audio' });
  await waitText(page, '#mode', /microphone only/);
  await admin.command({ type: 'kick', id: 'web.one', reason: 'phone on the desk' });
  const ended = await waitText(page, '#ended-text', /proctor ended your session/);
  assert.match(ended, /phone on the desk/);
  assert.equal(await page.$eval('#live', (el) => (el as unknown as { hidden: boolean }).hidden), true, 'the exam view is gone');
  assert.deepEqual(errors, []);

  const sdir = sessionDirOf(path.join(dir, 'rec'), 'web.one');
  await waitUntil('the session is finalised', () => existsSync(path.join(sdir, 'session.json')) && readJson<SessionRecord>(path.join(sdir, 'session.json')).ended_at !== null);
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.codec, 'h264');
  assert.equal(facts.audio?.codec, 'opus');
  assert.ok((facts.video?.packets ?? 0) >= 45, `${facts.video?.packets} video packets`);
  const decode = await execText('ffmpeg', ['-v', 'error', '-xerror', '-i', path.join(sdir, 'recording.mkv'), '-fps_mode', 'passthrough', '-enc_time_base:v', '1:1000', '-f', 'null', '-'], true);
  assert.equal(decode.trim(), '', 'ffmpeg decodes the whole recording');
  const incidents = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8');
  assert.match(incidents, /"kind":"(no_face|misaligned|multiple_faces)"/);
});

test('the page rides out a dropped connection: it reconnects, resumes the same session, and the recording decodes end to end', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  const camera = await fakeCamera(dir, 'candidate-ok.mp4', 0, 6);
  const server = await startServer(t, path.join(dir, 'rec'), ['--web-port', '0', '--auth', 'tokens', '--detector', 'none', '--resume-window', '30']);
  const webPort = (await server.waitForLog((l) => l.msg === 'web listening'))['port'] as number;
  // A relay in front of the page's port: cutting its links is the candidate's Wi-Fi dropping.
  const wifi = await flakyLink(t, webPort);
  const port = wifi.port;
  const url = await link(t, server, 'wifi', port);
  const browser = await launch(t, camera);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.click('#start');
  await waitText(page, '#conn', /^connected$/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const frames = async (): Promise<number> => (await admin.status()).candidates.find((x) => x.id === 'wifi')?.frames_recorded ?? 0;
  await waitUntil('2 s of video recorded', async () => (await frames()) >= 30);

  assert.ok(wifi.cut() > 0, 'the page had a connection to cut');
  await waitText(page, '#conn', /connection lost|reconnecting/);
  await waitText(page, '#conn', /resumed/, 60_000);
  const before = await frames();
  await waitUntil('video flows again', async () => (await frames()) >= before + 30);
  await page.click('#finish');
  await waitText(page, '#ended-text', /recording is complete/);
  assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), [], 'nothing but the dropped WebSocket itself is an error');

  const sdir = sessionDirOf(path.join(dir, 'rec'), 'wifi');
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.ended, 'client_bye');
  // A browser's frames come when its timer fires, not on a 1/15 s grid: decode them on the recording's own
  // millisecond clock (ffmpeg's default re-times them to the frame rate and then complains of equal times).
  const decode = await execText('ffmpeg', ['-v', 'error', '-xerror', '-i', path.join(sdir, 'recording.mkv'), '-fps_mode', 'passthrough', '-enc_time_base:v', '1:1000', '-f', 'null', '-'], true);
  assert.equal(decode.trim(), '', 'resumed at a keyframe: every frame decodes');
  assert.match(readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8'), /"kind":"disconnected"/);
});

test('a link without a token and a browser without what the page needs get words, not a blank page', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, path.join(dir, 'rec'), ['--web-port', '0', '--detector', 'none']);
  const port = (await server.waitForLog((l) => l.msg === 'web listening'))['port'] as number;
  const browser = await launch(t, await fakeCamera(dir, 'candidate-ok.mp4', 0, 1));
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  assert.match(await text(page, '#unsupported'), /link is incomplete/);
  assert.equal(await page.$eval('#start', (b) => (b as unknown as { disabled: boolean }).disabled), true);
  // A browser without WebCodecs (older Safari, some embedded browsers).
  const bare = await browser.newPage();
  await bare.evaluateOnNewDocument(() => {
    Reflect.deleteProperty(globalThis, 'VideoEncoder');
  });
  await bare.goto(`http://127.0.0.1:${port}/#id=x&token=y`);
  await waitText(bare, '#unsupported', /cannot encode video/);
  // Readable on a phone: nothing wider than 360 px.
  await page.setViewport({ width: 360, height: 640 });
  const overflow = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
  assert.ok(overflow <= 360, `page is ${overflow} px wide at 360`);
});
