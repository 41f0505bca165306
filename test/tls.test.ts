import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { isLoopback } from '../src/server';
import { clientArgs, execText, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, video, waitUntil } from './helpers';

async function selfSigned(dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await execText('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], true);
  return { cert, key };
}

test('TLS: a client trusting the server\'s certificate streams; one that does not, and plain TCP, are refused', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const { cert, key } = await selfSigned(dir);
  const server = await startServer(t, dir, ['--tls-cert', cert, '--tls-key', key]);
  const listening = server.logs.find((l) => l.msg === 'listening')!;
  assert.equal(listening['tls'], true);

  const ok = await runVigil(t, clientArgs(server.port, 'secure', video('megamind-clip.mp4'), null, ['--tls-ca', cert, '--width', '320', '--height', '240'])).done;
  assert.equal(ok.code, 0, ok.stderr);
  const facts = await recordingFacts(path.join(sessionDirOf(dir, 'secure'), 'recording.mkv'));
  assert.equal(facts.video?.packets, 108);

  const untrusted = await runVigil(t, clientArgs(server.port, 'doubtful', video('megamind-clip.mp4'), null, ['--tls'])).done;
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /the server's TLS certificate is not trusted .*; pass its CA with --tls-ca/);

  // A plain-TCP candidate speaks vigil frames into a TLS listener: the handshake fails, the server logs and counts it.
  const plain = await runVigil(t, clientArgs(server.port, 'plain', video('megamind-clip.mp4'), null)).done;
  assert.equal(plain.code, 1);
  await server.waitForLog((l) => l['reason'] === 'tls_failed');
  // A connection that never starts its handshake is cut at the handshake deadline.
  const silent = net.connect({ host: '127.0.0.1', port: server.port });
  silent.on('error', () => undefined);
  let silentClosed = false;
  silent.once('close', () => (silentClosed = true));
  await waitUntil('the server to close a connection that never starts TLS (5 s handshake deadline)', () => silentClosed);
  let drops: Record<string, number> = {};
  await waitUntil('two tls_failed drops counted', async () => {
    const st = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as { server: { drops: Record<string, number> } };
    drops = st.server.drops;
    return (drops['tls_failed'] ?? 0) >= 2;
  }, { seen: () => drops, everyMs: 200 });
});

test('only loopback addresses count as local', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.10', 'exam.example.org']) assert.equal(isLoopback(h), false, h);
});
