import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { audio, clientArgs, runVigil, startServer, tempDir, video, waitUntil } from './helpers';

async function token(t: Parameters<typeof runVigil>[0], secretFile: string, id: string, ttl = '1h'): Promise<string> {
  const r = await runVigil(t, ['token', 'issue', '--id', id, '--ttl', ttl, '--secret-file', secretFile]).done;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test('token auth: the secret is made private, each bad token is refused with its reason, a good one streams', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const missing = await runVigil(t, ['token', 'issue', '--id', 'alice', '--secret-file', path.join(dir, 'vigil.secret')]).done;
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no secret file at .*vigil\.secret/);

  const server = await startServer(t, dir, ['--auth', 'tokens']);
  const secretFile = path.join(dir, 'vigil.secret');
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);

  // A token from another server's secret.
  const otherDir = tempDir(t);
  mkdirSync(otherDir, { recursive: true });
  const otherSecret = path.join(otherDir, 'vigil.secret');
  writeFileSync(otherSecret, Buffer.alloc(32, 7).toString('base64url'), { mode: 0o600 });

  const expired = await token(t, secretFile, 'alice', '1s');
  const refusals: Array<[string, string, RegExp]> = [
    ['no token', '', /BYE auth_failed: no token: ask the proctor for one/],
    ['malformed', 'not.a.jwt', /BYE auth_failed: the token is malformed/],
    ['other secret', await token(t, otherSecret, 'alice'), /BYE auth_failed: the token was not issued by this server \(bad signature\)/],
    ['other id', await token(t, secretFile, 'bob'), /BYE auth_failed: this token is for candidate "bob", not "alice"/],
  ];
  // Waits for the clock to pass the token's own expiry (whole seconds, as the JWT says), not for a guessed delay.
  const exp = (JSON.parse(Buffer.from(expired.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp;
  await waitUntil(`the clock to pass the 1 s token's expiry (${exp})`, () => Math.floor(Date.now() / 1000) > exp, { timeoutMs: 5_000 });
  refusals.push(['expired', expired, /BYE auth_failed: the token expired at \d{4}-/]);
  for (const [what, tok, re] of refusals) {
    const r = await runVigil(t, clientArgs(server.port, 'alice', null, audio('silence-10s.wav'), ['--token', tok])).done;
    assert.equal(r.code, 3, `${what}: refused at the handshake`);
    assert.match(r.stdout, re, what);
  }
  const authFailures = (): number => server.logs.filter((l) => l['reason'] === 'auth_failed').length;
  await waitUntil(`${refusals.length} auth_failed log lines`, () => authFailures() >= refusals.length, { seen: authFailures });
  assert.equal(authFailures(), refusals.length, 'every refusal is logged, once');

  const good = await token(t, secretFile, 'alice');
  const c = runVigil(t, clientArgs(server.port, 'alice', video('megamind-clip.mp4'), null, ['--token', good, '--width', '320', '--height', '240']));
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sent 108 video frames/);
});

test('a failed login leaves the session alone; a valid one with the same id supersedes it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--auth', 'tokens']);
  const secretFile = path.join(dir, 'vigil.secret');
  const tok = await token(t, secretFile, 'alice');
  const first = runVigil(t, clientArgs(server.port, 'alice', video('candidate-ok.mp4'), null, ['--token', tok, '--loop']));
  await first.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());

  const intruder = await runVigil(t, clientArgs(server.port, 'alice', null, audio('silence-10s.wav'), ['--token', 'forged'])).done;
  assert.equal(intruder.code, 3);
  const before = (await admin.status()).candidates[0]!;
  let after = before;
  await waitUntil('more frames from the first login', async () => (after = (await admin.status()).candidates[0]!).frames_received > before.frames_received);
  assert.equal(after.session_id, before.session_id, 'same session');
  assert.ok(after.frames_received > before.frames_received, 'still streaming');

  const second = runVigil(t, clientArgs(server.port, 'alice', video('candidate-ok.mp4'), null, ['--token', tok, '--loop']));
  await second.waitForLine(/^WELCOME/);
  const old = await first.done;
  assert.equal(old.code, 4);
  assert.match(old.stdout, /^BYE superseded: a new connection logged in as alice from 127\.0\.0\.1:\d+$/m);
  // The new login continues the same session and recording.
  let now = (await admin.status()).candidates;
  await waitUntil('10 more frames recorded from the new connection', async () => (now = (await admin.status()).candidates).some((c) => c.frames_received > after.frames_received + 10), { seen: () => now });
  assert.equal(now.length, 1);
  assert.equal(now[0]!.session_id, before.session_id);
  second.proc.kill('SIGINT');
  assert.equal((await second.done).code, 130);
  assert.equal(readdirSync(path.join(dir, 'alice')).length, 1, 'one session folder');
});

test('a secret file others can read is refused', async (t) => {
  const dir = tempDir(t);
  const secretFile = path.join(dir, 'vigil.secret');
  writeFileSync(secretFile, Buffer.alloc(32, 1).toString('base64url'));
  chmodSync(secretFile, 0o644);
  const r = await runVigil(t, ['serve', '--port', '0', '--record-dir', dir, '--detector', 'none']).done;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /secret file .* is readable by others \(mode 644\); run: chmod 600/);
});
