import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { SessionRecord } from '../src/server';
import { MEDIA, REPO, audio, execText, ncc, readJson, sessionDirOf, startServer, tempDir, video, waitUntil } from './helpers';

/** Runs a command to the end; rejects with its output when it fails. */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('error', reject);
    p.once('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** Every package folder under node_modules (scoped ones as `@scope/name`). */
function installedPackages(nodeModules: string): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const sub of readdirSync(path.join(nodeModules, entry))) names.push(`${entry}/${sub}`);
    else names.push(entry);
  }
  return names;
}

/** Files a native build leaves behind (node-gyp's .node binaries), anywhere under `dir`. */
function nativeBinaries(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.node'));
}

test('a candidate installs the packed client with Node and ffmpeg only (no OpenCV, no native build) and streams camera and microphone (H.264 + Opus, the default)', { timeout: 240_000 }, async (t) => {
  const dir = tempDir(t);
  const packDir = path.join(dir, 'pack');
  const app = path.join(dir, 'candidate');
  const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env: { npm_config_loglevel: 'error' } });

  mkdirSync(packDir);
  const packed = await npm(['pack', '--pack-destination', packDir], REPO);
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = path.join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);

  // The README's candidate install, into an empty folder. Packages come from npm's cache when `make` has filled it.
  writeFileSync(path.join(dir, 'package.json'), '{}');
  const started = performance.now();
  const installed = await npm(['install', '--prefix', app, '--omit=optional', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', tarball], dir);
  const installS = (performance.now() - started) / 1000;
  assert.equal(installed.code, 0, installed.stderr);
  t.diagnostic(`candidate install: ${installS.toFixed(1)} s`);
  const nodeModules = path.join(app, 'node_modules');
  const packages = installedPackages(nodeModules);
  assert.ok(packages.includes('vigil'), packages.join(' '));
  for (const heavy of ['@u4/opencv4nodejs', '@u4/opencv-build', 'onnxruntime-node', 'naudiodon']) assert.ok(!packages.includes(heavy), `${heavy} is not installed`);
  assert.deepEqual(nativeBinaries(nodeModules), [], 'nothing was compiled');

  // The installed client against a server from this repo: a video file and the microphone (through ffmpeg, as
  // there is no PortAudio), the microphone being ALSA's file device playing the sample speech.
  const rawFile = path.join(dir, 'mic.raw');
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', audio('speech-16k-mono.wav'), '-f', 's16le', '-ac', '1', '-ar', '16000', rawFile]);
  const conf = readFileSync(path.join(MEDIA, '..', 'alsa', 'file-mic.conf'), 'utf8').replace('infile "/dev/zero"', `infile "${rawFile}"`);
  writeFileSync(path.join(dir, 'mic.conf'), conf);
  const server = await startServer(t, path.join(dir, 'rec'), ['--detector', 'none']);
  const bin = path.join(nodeModules, '.bin', 'vigil');
  const devices = await run(bin, ['devices'], { cwd: app });
  assert.equal(devices.code, 0, devices.stderr);
  assert.match(devices.stdout, /naudiodon is not installed; --audio mic reads the system default through ffmpeg/);

  const client = spawn(bin, ['client', '--server', `127.0.0.1:${server.port}`, '--id', 'light', '--video', video('candidate-incidents.mp4'), '--audio', 'mic'], {
    cwd: app,
    env: { ...process.env, ALSA_CONFIG_PATH: path.join(dir, 'mic.conf') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  client.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  client.stdout.resume();
  const exited = new Promise<number | null>((resolve) => client.once('close', (code) => resolve(code)));
  t.after(() => void (client.exitCode === null && client.kill('SIGKILL')));
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  let seen = { audio: 0, frames: 0 };
  await waitUntil(
    '3.5 s of microphone audio and 30 video frames recorded',
    async () => {
      const c = (await admin.status()).candidates.find((x) => x.id === 'light');
      seen = { audio: c?.audio_s ?? 0, frames: c?.frames_recorded ?? 0 };
      // Half a second more than the check below: Opus's pre-skip and the last packet in flight trim a little.
      return seen.audio >= 3.5 && seen.frames >= 30;
    },
    { seen: () => JSON.stringify(seen), timeoutMs: 60_000 },
  );
  client.kill('SIGINT');
  assert.equal(await exited, 130, stderr);

  const sdir = sessionDirOf(path.join(dir, 'rec'), 'light');
  await waitUntil('the session is finalised', () => existsSync(path.join(sdir, 'session.json')) && readJson<SessionRecord>(path.join(sdir, 'session.json')).ended_at !== null);
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.ok(rec.frames_written >= 30, `${rec.frames_written} frames`);
  // The default codec is Opus, so the microphone is compared by its shape: the sample speech, from the start.
  const out = path.join(dir, 'out.raw');
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', path.join(sdir, 'recording.mkv'), '-map', '0:a', '-f', 's16le', '-ac', '1', '-ar', '16000', out]);
  const recorded = readFileSync(out);
  assert.ok(recorded.length >= 3 * 16000 * 2, `${recorded.length} bytes of audio`);
  const score = ncc(readFileSync(rawFile), recorded, 16000 * 2, 800);
  assert.ok(score >= 0.9, `the recorded audio is the microphone's: normalised cross-correlation ${score.toFixed(3)} over the first 2 s`);
});
