import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decoder, MAX_OPUS_PACKET, encode, type Message, type WelcomeMessage } from '../src/protocol';

function decodeAll(bytes: Buffer): ReturnType<Decoder['push']> {
  return new Decoder().push(bytes);
}

/** Version-2 kinds with their exact bytes, so a layout change cannot pass unnoticed. */
const FIXTURES: Array<{ name: string; msg: Message; hex: string }> = [
  {
    name: 'HELLO version 2, H.264 + Opus',
    msg: { type: 'hello', version: 2, candidateId: 'ab', token: '', clientVersion: '', video: { codec: 'h264', width: 640, height: 480, fps: 15 }, audio: { codec: 'opus', sampleRate: 48000, channels: 1 }, accepts: ['receipt', 'alert'] },
    hex: '5601' + '0000001a' + '0002' + '0002' + '6162' + '0000' + '0000' + '0f' + '02' + '0280' + '01e0' + '41700000' + '02' + '0000bb80' + '01',
  },
  { name: 'CODEC_CONFIG', msg: { type: 'codec_config', track: 'video', data: Buffer.from('0164001f', 'hex') }, hex: '560c' + '00000005' + '01' + '0164001f' },
  {
    name: 'H264_FRAME',
    msg: { type: 'h264_frame', seq: 3, timestampMs: 200, keyframe: true, data: Buffer.from('0000000165', 'hex') },
    hex: '560d' + '00000012' + '00000003' + '4069000000000000' + '01' + '0000000165',
  },
  {
    name: 'OPUS_PACKET',
    msg: { type: 'opus_packet', seq: 9, timestampMs: 180, samples: 960, data: Buffer.from('7801', 'hex') },
    hex: '560e' + '00000010' + '00000009' + '4066800000000000' + '03c0' + '7801',
  },
  { name: 'SNAPSHOT', msg: { type: 'snapshot', timestampMs: 0, jpeg: Buffer.from('ffd8ffd9', 'hex') }, hex: '560f' + '0000000c' + '0000000000000000' + 'ffd8ffd9' },
];

const welcome: WelcomeMessage = {
  type: 'welcome',
  sessionId: 's1',
  mode: 'both',
  limits: { video: 2097152, audio: 262144, control: 16384 },
  idleTimeoutMs: 10000,
  resumed: false,
  lastVideoSeq: -1,
  lastAudioSeq: -1,
  resumeAtMs: 0,
};

describe('protocol version 2', () => {
  for (const f of FIXTURES) {
    it(`${f.name}: encodes to its fixture bytes and decodes back`, () => {
      assert.equal(encode(f.msg).toString('hex'), f.hex);
      const r = decodeAll(Buffer.from(f.hex, 'hex'));
      assert.equal(r.error, null);
      assert.deepEqual(r.messages, [f.msg]);
    });
  }

  it('WELCOME carries the snapshot interval only when given: a version-1 client gets the layout it always did', () => {
    const v1 = encode(welcome);
    assert.equal(v1.length, 6 + 0x26); // the version-1 fixture length
    const v2 = encode({ ...welcome, snapshotIntervalMs: 250 });
    assert.equal(v2.length, v1.length + 4);
    assert.deepEqual(decodeAll(v2).messages, [{ ...welcome, snapshotIntervalMs: 250 }]);
    assert.deepEqual(decodeAll(v1).messages, [welcome]);
  });

  it('a version-1 HELLO may not declare H.264 or Opus', () => {
    const hello = encode({ ...(FIXTURES[0]!.msg as Extract<Message, { type: 'hello' }>), version: 1 });
    const r = decodeAll(hello);
    assert.equal(r.error?.code, 'VIGIL_ERR_BAD_VALUE');
    assert.match(r.error!.message, /H\.264 needs protocol version 2/);
  });

  it('an OPUS_PACKET over the Opus size limit is refused from its header', () => {
    const h = Buffer.from('560e00000000', 'hex');
    h.writeUInt32BE(14 + MAX_OPUS_PACKET + 1, 2);
    const r = decodeAll(h);
    assert.equal(r.error?.code, 'VIGIL_ERR_TOO_LARGE');
    assert.equal(r.error?.bye, 'message_too_large');
    assert.match(r.error!.message, /OPUS_PACKET declares/);
  });

  it('bad version-2 values have distinct, actionable errors', () => {
    assert.equal(decodeAll(Buffer.from('560c' + '00000002' + '0301', 'hex')).error?.code, 'VIGIL_ERR_BAD_VALUE'); // track 3
    assert.equal(decodeAll(Buffer.from('560c' + '00000001' + '01', 'hex')).error?.bye, 'bad_codec_config'); // empty avcC
    assert.equal(decodeAll(Buffer.from('560d' + '0000000e' + '00000000' + '0000000000000000' + '02' + '65', 'hex')).error?.code, 'VIGIL_ERR_BAD_VALUE'); // flag bit 2
    assert.equal(decodeAll(Buffer.from('560e' + '0000000f' + '00000000' + '0000000000000000' + '0010' + '78', 'hex')).error?.code, 'VIGIL_ERR_BAD_VALUE'); // 16 samples
  });
});
