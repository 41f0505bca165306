import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { Decoder, PROTOCOL_VERSION, encode, type Message } from '../src/protocol';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, execText, readJson, recordingFacts, runVigil, sleep, startServer, tempDir, video } from './helpers';
import { selfSigned } from './tls-cert';

/** The scenario ran 60 s: a TLS session died every drain timeout (10 s), so this runs six of them. */
const SECONDS = 60;

interface Outcome {
  kind: string;
  bye: string | null;
  closed: boolean;
}

/**
 * One hostile connection to the TLS port from its own loopback address. `tlsFirst` completes a TLS handshake
 * before `script` runs; without it the script speaks straight into the TLS listener. Reads (and decodes)
 * whatever comes back unless `read` is false.
 */
function hostile(port: number, ca: Buffer, localAddress: string, kind: string, tlsFirst: boolean, script: (s: net.Socket) => Promise<void>, read = true): Promise<Outcome> {
  return new Promise((resolve) => {
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
    const s: net.Socket = tlsFirst ? tls.connect({ socket: tcp, ca, servername: 'localhost', minVersion: 'TLSv1.2' }) : tcp;
    tcp.on('error', () => undefined);
    const decoder = new Decoder();
    const got: Message[] = [];
    const guard = setTimeout(() => {
      s.destroy();
      resolve({ kind, bye: null, closed: false });
    }, 30_000);
    if (read) s.on('data', (d: Buffer) => got.push(...decoder.push(d).messages));
    else s.pause();
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(guard);
      const bye = got.find((m) => m.type === 'bye');
      resolve({ kind, bye: bye?.type === 'bye' ? bye.reason : null, closed: true });
    });
    s.once(tlsFirst ? 'secureConnect' : 'connect', () => void script(s).catch(() => undefined));
  });
}

const hello = (id: string): Buffer =>
  encode({ type: 'hello', version: PROTOCOL_VERSION, candidateId: id, token: '', clientVersion: 'hostile', video: { codec: 'jpeg', width: 64, height: 48, fps: 15 }, audio: null });

test(`a ${SECONDS} s TLS session is one session with every frame and every sample, with 60 hostile connections beside it`, { timeout: (SECONDS + 90) * 1000 }, async (t) => {
  const dir = tempDir(t);
  const { cert, key } = await selfSigned(dir);
  const ca = readFileSync(cert);
  // 60 s of the sample video and speech, made by ffmpeg from the 20 s and 21 s samples.
  const longVideo = path.join(dir, 'long.mp4');
  const longAudio = path.join(dir, 'long.wav');
  await execText('ffmpeg', ['-v', 'error', '-stream_loop', '2', '-i', video('candidate-ok.mp4'), '-t', String(SECONDS), '-c', 'copy', longVideo]);
  await execText('ffmpeg', ['-v', 'error', '-stream_loop', '2', '-i', audio('speech-16k-mono.wav'), '-t', String(SECONDS), '-c:a', 'pcm_s16le', longAudio]);

  const record = path.join(dir, 'rec');
  const server = await startServer(t, record, ['--tls-cert', cert, '--tls-key', key, '--handshake-timeout', '2']);
  const client = runVigil(t, clientArgs(server.port, 'long', longVideo, longAudio, ['--tls-ca', cert, '--width', '320', '--height', '240']));
  await client.waitForLine(/^WELCOME session /);

  // Once 10 s are recorded (the first drain timeout, where the old code dropped the session), the hostile
  // connections arrive. session.json is refreshed every 5 s while the session runs.
  const recorded = async (): Promise<number> => {
    try {
      const [sid] = readdirSync(path.join(record, 'long'));
      return readJson<SessionRecord>(path.join(record, 'long', sid!, 'session.json')).frames_written;
    } catch {
      return 0;
    }
  };
  for (const t0 = performance.now(); (await recorded()) < 150; await sleep(250)) {
    assert.ok(performance.now() - t0 < 40_000, 'the session did not record 10 s within 40 s');
  }
  const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
  let n = 0;
  const addr = (): string => `127.0.${20 + Math.floor(n / 250)}.${1 + (n++ % 250)}`;
  const attacks: Array<Promise<Outcome>> = [];
  for (let i = 0; i < 10; i++) {
    attacks.push(hostile(server.port, ca, addr(), 'garbage instead of TLS', false, async (s) => void s.write(junk)));
    attacks.push(hostile(server.port, ca, addr(), 'half-open TCP', false, async () => undefined));
    attacks.push(hostile(server.port, ca, addr(), 'TLS then silence', true, async () => undefined));
    attacks.push(hostile(server.port, ca, addr(), 'TLS then 4 GB header', true, async (s) => void s.write(Buffer.concat([hello(`big-${i}`), Buffer.from('5603ffffffff', 'hex')]))));
    attacks.push(hostile(server.port, ca, addr(), 'TLS then garbage', true, async (s) => void s.write(junk)));
    attacks.push(
      hostile(server.port, ca, addr(), 'TLS, HELLO, never reads', true, async (s) => {
        s.write(hello(`deaf-${i}`));
        const pings = Buffer.concat(Array.from({ length: 500 }, (_, k) => encode({ type: 'ping', nonce: k })));
        while (!s.destroyed) {
          s.write(pings);
          await sleep(20);
        }
      }, false),
    );
  }
  const outcomes = await Promise.all(attacks);
  assert.equal(outcomes.length, 60);
  assert.deepEqual(outcomes.filter((o) => !o.closed).map((o) => o.kind), [], 'the server closed every hostile connection');
  const reasons = (kind: string): string[] => [...new Set(outcomes.filter((o) => o.kind === kind).map((o) => String(o.bye)))];
  assert.deepEqual(reasons('TLS then silence'), ['handshake_timeout']);
  assert.deepEqual(reasons('TLS then 4 GB header'), ['message_too_large']);
  assert.deepEqual(reasons('TLS then garbage'), ['protocol_error']);
  assert.ok((server.logs.filter((l) => l['reason'] === 'tls_failed').length) >= 20, 'garbage and half-open connections fail the TLS handshake');

  const r = await client.done;
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /DISCONNECTED|RECONNECT|BYE /, 'the session never dropped');
  assert.equal((r.stdout.match(/^WELCOME /gm) ?? []).length, 1);
  const sent = /sent (\d+) video frames and (\d+) audio chunks \((\d+\.\d+) s\)/.exec(r.stdout);
  assert.ok(sent, r.stdout);
  const [frames, chunks, seconds] = [Number(sent[1]), Number(sent[2]), Number(sent[3])];
  assert.equal(frames, SECONDS * 15);
  assert.ok(Math.abs(seconds - SECONDS) < 0.05, `${seconds} s of audio sent`);
  // The server's RECEIPT confirms what was sent, to the frame and the chunk.
  assert.match(r.stdout, new RegExp(`^RECEIPT session \\S+: ${frames} video frames, ${chunks} audio chunks \\(${seconds.toFixed(2)} s\\) recorded$`, 'm'));

  // One session, one recording; ffprobe finds every frame and every sample.
  const sessions = readdirSync(path.join(record, 'long'));
  assert.equal(sessions.length, 1, `one session folder, found ${sessions.join(', ')}`);
  const sdir = path.join(record, 'long', sessions[0]!);
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.ended, 'client_bye');
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.packets, frames);
  assert.ok(Math.abs(facts.audio!.duration - seconds) < 0.001, `audio ${facts.audio!.duration} s, sent ${seconds} s`);
  assert.equal(facts.decodeErrors, '');
  assert.ok(!server.logs.some((l) => l['id'] === 'long' && l['reason'] !== undefined && String(l.msg).startsWith('dropped')), 'the candidate was never dropped');
});
