import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Decoder, MAX_RECEIPT_GAPS, ProtocolError, encode, type HelloMessage, type Message, type ReceiptMessage } from '../src/protocol';

/** One message of every kind, with its exact bytes on the wire (hex), so a layout change cannot pass unnoticed. */
const FIXTURES: Array<{ name: string; msg: Message; hex: string }> = [
  {
    name: 'HELLO with video and audio',
    msg: {
      type: 'hello',
      version: 1,
      candidateId: 'ab',
      token: 't',
      clientVersion: 'v1',
      video: { codec: 'jpeg', width: 640, height: 480, fps: 15 },
      audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 },
    },
    hex:
      '5601' + '0000001d' + '0001' + '0002' + '6162' + '0001' + '74' + '0002' + '7631' + '03' +
      '01' + '0280' + '01e0' + '41700000' + '01' + '00003e80' + '01',
  },
  {
    name: 'HELLO audio only',
    msg: { type: 'hello', version: 1, candidateId: 'a', token: '', clientVersion: '', video: null, audio: { codec: 'pcm_s16le', sampleRate: 44100, channels: 2 } },
    hex: '5601' + '00000010' + '0001' + '000161' + '0000' + '0000' + '02' + '01' + '0000ac44' + '02',
  },
  {
    name: 'WELCOME',
    msg: {
      type: 'welcome',
      sessionId: 's1',
      mode: 'both',
      limits: { video: 2097152, audio: 262144, control: 16384 },
      idleTimeoutMs: 10000,
      resumed: true,
      lastVideoSeq: 41,
      lastAudioSeq: -1,
      resumeAtMs: 2800,
    },
    hex: '5602' + '00000026' + '0002' + '7331' + '03' + '00200000' + '00040000' + '00004000' + '00002710' + '01' + '0000002a' + '00000000' + '40a5e00000000000',
  },
  {
    name: 'VIDEO_FRAME',
    msg: { type: 'video_frame', seq: 7, timestampMs: 466.5, jpeg: Buffer.from('ffd8ffd9', 'hex') },
    hex: '5603' + '00000010' + '00000007' + '407d280000000000' + 'ffd8ffd9',
  },
  {
    name: 'AUDIO_CHUNK',
    msg: { type: 'audio_chunk', seq: 1, timestampMs: 40, pcm: Buffer.from('01000200', 'hex') },
    hex: '5604' + '00000010' + '00000001' + '4044000000000000' + '01000200',
  },
  { name: 'MODE', msg: { type: 'mode', mode: 'audio' }, hex: '5605' + '00000001' + '01' },
  {
    name: 'VERDICT',
    msg: { type: 'verdict', verdict: 'multiple_faces', faces: 2, timestampMs: 1000, text: 'x' },
    hex: '5606' + '0000000d' + '04' + '02' + '408f400000000000' + '000178',
  },
  { name: 'PING', msg: { type: 'ping', nonce: 0xdeadbeef }, hex: '5607' + '00000004' + 'deadbeef' },
  { name: 'PONG', msg: { type: 'pong', nonce: 1 }, hex: '5608' + '00000004' + '00000001' },
  { name: 'BYE', msg: { type: 'bye', reason: 'kicked', code: 1009, text: 'no' }, hex: '5609' + '00000006' + '03f1' + '0002' + '6e6f' },
  {
    name: 'HELLO accepting RECEIPT and ALERT',
    msg: {
      type: 'hello',
      version: 1,
      candidateId: 'ab',
      token: 't',
      clientVersion: 'v1',
      video: { codec: 'jpeg', width: 640, height: 480, fps: 15 },
      audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 },
      accepts: ['receipt', 'alert'],
    },
    // The same bytes as the first HELLO but for the flags byte: 0x0f = video, audio, receipt, alert.
    hex:
      '5601' + '0000001d' + '0001' + '0002' + '6162' + '0001' + '74' + '0002' + '7631' + '0f' +
      '01' + '0280' + '01e0' + '41700000' + '01' + '00003e80' + '01',
  },
  {
    name: 'RECEIPT',
    msg: {
      type: 'receipt',
      sessionId: 's1',
      intact: true,
      gapsTruncated: false,
      video: { messages: 3, samples: 0, firstSeq: 0, lastSeq: 4, gaps: [{ fromSeq: 1, toSeq: 2, afterMs: 0, beforeMs: 200 }] },
      audio: { messages: 0, samples: 0, firstSeq: -1, lastSeq: -1, gaps: [] },
    },
    hex:
      '560a' + '00000049' + '0002' + '7331' + '01' +
      '00000003' + '0000000000000000' + '00000001' + '00000005' + '0001' + '00000001' + '00000002' + '0000000000000000' + '4069000000000000' +
      '00000000' + '0000000000000000' + '00000000' + '00000000' + '0000',
  },
  { name: 'ALERT', msg: { type: 'alert', code: 'recording_failed', text: 'x' }, hex: '560b' + '00000005' + '0001' + '000178' },
];

function decodeAll(bytes: Buffer, split: number[] = []): { messages: Message[]; error: ProtocolError | null } {
  const d = new Decoder();
  const messages: Message[] = [];
  let last = 0;
  for (const at of [...split, bytes.length]) {
    const r = d.push(bytes.subarray(last, at));
    messages.push(...r.messages);
    last = at;
    if (r.error) return { messages, error: r.error };
  }
  return { messages, error: null };
}

describe('protocol fixtures', () => {
  for (const f of FIXTURES) {
    it(`${f.name}: encodes to the fixture bytes and decodes back`, () => {
      assert.equal(encode(f.msg).toString('hex'), f.hex);
      const { messages, error } = decodeAll(Buffer.from(f.hex, 'hex'));
      assert.equal(error, null);
      assert.deepEqual(messages, [f.msg]);
    });
  }

  it('decodes every message identically when the stream is split at every byte boundary', () => {
    const stream = Buffer.concat(FIXTURES.map((f) => encode(f.msg)));
    const expected = FIXTURES.map((f) => f.msg);
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(decodeAll(stream, [at]).messages, expected, `split at ${at}`);
    }
    // And one byte at a time.
    const bytewise = Array.from({ length: stream.length }, (_, i) => i);
    assert.deepEqual(decodeAll(stream, bytewise).messages, expected);
  });

  it('decodes across random multi-way splits (property)', () => {
    const stream = Buffer.concat(FIXTURES.map((f) => encode(f.msg)));
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: stream.length }), { maxLength: 30 }), (cuts) => {
        const r = decodeAll(stream, [...cuts].sort((a, b) => a - b));
        assert.equal(r.error, null);
        assert.equal(r.messages.length, FIXTURES.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('protocol additions after the first release', () => {
  it('an older client\'s HELLO (no accept bits) decodes without `accepts`, exactly as before', () => {
    const { messages } = decodeAll(Buffer.from(FIXTURES[0]!.hex, 'hex'));
    assert.equal((messages[0] as HelloMessage).accepts, undefined);
  });

  it('a decoder that predates a kind fails on it: why RECEIPT and ALERT go only to clients that accept them', () => {
    // The first release's decoder knew kinds 1-9; this decoder rejects kind 16 the same way it rejected 10 and 11.
    assert.equal(decodeAll(Buffer.from('5610' + '00000000', 'hex')).error?.code, 'VIGIL_ERR_UNKNOWN_KIND');
  });

  it('an ALERT code from a newer server decodes as unknown, keeping its number, and encodes back the same', () => {
    const bytes = Buffer.from('560b' + '00000005' + '0063' + '000178', 'hex');
    const { messages, error } = decodeAll(bytes);
    assert.equal(error, null);
    assert.deepEqual(messages, [{ type: 'alert', code: 'unknown', text: 'x', wireCode: 99 }]);
    assert.equal(encode(messages[0]!).toString('hex'), bytes.toString('hex'));
    assert.equal(decodeAll(encode({ type: 'alert', code: 'detector_down', text: '' })).messages[0]?.type, 'alert');
  });

  it('rejects RECEIPT gaps that run backwards, unknown flag bits and too many gaps', () => {
    const good = encode(FIXTURES.find((f) => f.name === 'RECEIPT')!.msg);
    const backwards = Buffer.from(good);
    backwards.writeUInt32BE(9, 6 + 4 + 1 + 4 + 8 + 4 + 4 + 2); // gap fromSeq 9 > toSeq 2
    assert.equal(decodeAll(backwards).error?.code, 'VIGIL_ERR_BAD_VALUE');
    const flags = Buffer.from(good);
    flags[6 + 4] = 0x80;
    assert.equal(decodeAll(flags).error?.code, 'VIGIL_ERR_BAD_VALUE');
    const many = Buffer.from(good);
    many.writeUInt16BE(MAX_RECEIPT_GAPS + 1, 6 + 4 + 1 + 4 + 8 + 4 + 4);
    assert.equal(decodeAll(many).error?.code, 'VIGIL_ERR_BAD_VALUE');
  });

  it('a RECEIPT with more gaps than fit sends the first ones and says the list is truncated', () => {
    const gaps = Array.from({ length: MAX_RECEIPT_GAPS + 5 }, (_, i) => ({ fromSeq: i * 3 + 1, toSeq: i * 3 + 1, afterMs: i, beforeMs: i + 1 }));
    const msg: Message = {
      type: 'receipt', sessionId: 'x', intact: false, gapsTruncated: false,
      video: { messages: 1, samples: 0, firstSeq: 0, lastSeq: 1000, gaps },
      audio: { messages: 2, samples: 1280, firstSeq: 0, lastSeq: 1, gaps: [] },
    };
    const bytes = encode(msg);
    assert.ok(bytes.length - 6 <= 16 * 1024, `${bytes.length} bytes fit the control limit`);
    const r = decodeAll(bytes);
    assert.equal(r.error, null);
    const got = r.messages[0] as ReceiptMessage;
    assert.equal(got.gapsTruncated, true);
    assert.equal(got.intact, false);
    assert.equal(got.video.gaps.length, MAX_RECEIPT_GAPS);
    assert.equal(got.audio.samples, 1280);
  });
});

describe('protocol errors', () => {
  it('rejects an oversized declared length from the header alone, before any payload arrives', () => {
    const d = new Decoder({ video: 1000 });
    const r = d.push(Buffer.from('5603' + 'fffffff0', 'hex'));
    assert.ok(r.error);
    assert.equal(r.error.code, 'VIGIL_ERR_TOO_LARGE');
    assert.equal(r.error.bye, 'message_too_large');
    assert.match(r.error.message, /VIDEO_FRAME declares 4294967280 bytes; the limit is 1000/);
    assert.equal(d.bufferedBytes, 0);
  });

  it('applies the control limit to control kinds, not the video limit', () => {
    const d = new Decoder({ control: 100, video: 1_000_000 });
    const r = d.push(Buffer.from('5601' + '00000fff', 'hex'));
    assert.equal(r.error?.code, 'VIGIL_ERR_TOO_LARGE');
  });

  it('rejects a stream that is not vigil at the first byte', () => {
    const r = decodeAll(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.equal(r.error?.code, 'VIGIL_ERR_BAD_MAGIC');
    assert.match(r.error!.message, /not speaking the vigil protocol/);
  });

  it('rejects an unknown kind', () => {
    assert.equal(decodeAll(Buffer.from('56ff00000000', 'hex')).error?.code, 'VIGIL_ERR_UNKNOWN_KIND');
  });

  it('rejects a truncated payload, trailing bytes and bad values with distinct codes', () => {
    assert.equal(decodeAll(Buffer.from('5607' + '00000002' + 'dead', 'hex')).error?.code, 'VIGIL_ERR_MALFORMED');
    assert.equal(decodeAll(Buffer.from('5607' + '00000005' + 'deadbeef00', 'hex')).error?.code, 'VIGIL_ERR_MALFORMED');
    assert.equal(decodeAll(Buffer.from('5605' + '00000001' + '09', 'hex')).error?.code, 'VIGIL_ERR_BAD_VALUE');
    // NaN timestamp
    assert.equal(decodeAll(Buffer.from('5603' + '0000000e' + '00000000' + '7ff8000000000000' + 'ffd8', 'hex')).error?.code, 'VIGIL_ERR_BAD_VALUE');
    // Odd PCM byte count
    assert.equal(decodeAll(Buffer.from('5604' + '0000000d' + '00000000' + '0000000000000000' + '01', 'hex')).error?.code, 'VIGIL_ERR_MALFORMED');
  });

  it('refuses another protocol version with unsupported_version', () => {
    const hello = encode(FIXTURES[0]!.msg as Message);
    hello.writeUInt16BE(3, 6);
    const r = decodeAll(hello);
    assert.equal(r.error?.code, 'VIGIL_ERR_VERSION');
    assert.equal(r.error?.bye, 'unsupported_version');
  });

  it('keeps messages that arrived before an error, then stays failed', () => {
    const good = encode({ type: 'ping', nonce: 5 });
    const d = new Decoder();
    const r = d.push(Buffer.concat([good, Buffer.alloc(6)]));
    assert.deepEqual(r.messages, [{ type: 'ping', nonce: 5 }]);
    assert.equal(r.error?.code, 'VIGIL_ERR_BAD_MAGIC');
    const again = d.push(good);
    assert.deepEqual(again.messages, []);
    assert.equal(again.error, r.error);
  });

  it('never throws on random bytes: only messages or the typed error (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (chunks, withMagic) => {
        const d = new Decoder({ video: 4096, audio: 4096, control: 256 });
        for (const [i, c] of chunks.entries()) {
          const buf = Buffer.from(c);
          if (withMagic && i === 0 && buf.length > 1) buf[0] = 0x56;
          const r = d.push(buf);
          if (r.error) assert.ok(r.error instanceof ProtocolError);
          assert.ok(d.bufferedBytes <= 6 + 4096);
        }
      }),
      { numRuns: 60_000 },
    );
  });

  it('never throws on structurally valid headers with random payloads (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.uint8Array({ maxLength: 80 }), (kind, payload) => {
        const h = Buffer.alloc(6);
        h[0] = 0x56;
        h[1] = kind;
        h.writeUInt32BE(payload.length, 2);
        const r = new Decoder().push(Buffer.concat([h, Buffer.from(payload)]));
        if (r.error) assert.ok(r.error instanceof ProtocolError);
        else assert.equal(r.messages.length, 1);
      }),
      { numRuns: 50_000 },
    );
  });
});
