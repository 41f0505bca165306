import { randomInt } from 'node:crypto';
import * as E from './ebml';

/*
 * The Tracks element of a recording. Compressed tracks (H.264, Opus) need a CodecPrivate the writer only
 * learns after the header is on disk (the client sends its avcC/OpusHead after WELCOME), so their TrackEntry
 * ends in a reserved Void that `codecPrivatePatch` later overwrites in place, as the SeekHead is. A file cut
 * before that has no frames of the track either: the server records none before the configuration.
 */

const ID = {
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  Language: 0x22b59c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  CodecDelay: 0x56aa,
  SeekPreRoll: 0x56bb,
  Name: 0x536e,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  BitDepth: 0x6264,
} as const;

export type MkvVideoCodec = 'jpeg' | 'h264';
export type MkvAudioCodec = 'pcm_s16le' | 'opus';

export interface MkvVideoTrack {
  /** Default 'jpeg'. */
  codec?: MkvVideoCodec;
  width: number;
  height: number;
}

export interface MkvAudioTrack {
  /** Default 'pcm_s16le'. Opus is always 48 kHz on the timeline, whatever the source rate. */
  codec?: MkvAudioCodec;
  sampleRate: number;
  channels: number;
}

/** Room kept for CodecPrivate (+ CodecDelay): an avcC of 640x480 x264 output is about 45 bytes, OpusHead 19. */
export const CODEC_PRIVATE_RESERVE = 512;
/** Largest CodecPrivate that fits the reserve with its own framing and a CodecDelay beside it. */
export const MAX_CODEC_PRIVATE = CODEC_PRIVATE_RESERVE - 32;
/** Opus needs 80 ms of decoded audio before a seek point to converge (RFC 7845 §4.6). */
const OPUS_SEEK_PRE_ROLL_NS = 80_000_000;

function trackEntry(number: number, type: 1 | 2, name: string, codec: string, settings: Buffer[], reserve: boolean): Buffer {
  return E.master(ID.TrackEntry, [
    E.uint(ID.TrackNumber, number),
    E.uint(ID.TrackUID, randomInt(1, 2 ** 47)),
    E.uint(ID.TrackType, type),
    E.uint(ID.FlagLacing, 0),
    E.string(ID.Language, 'und'),
    E.string(ID.Name, name),
    E.string(ID.CodecID, codec),
    ...settings,
    ...(reserve ? [E.voidElement(CODEC_PRIVATE_RESERVE)] : []),
  ]);
}

export interface BuiltTracks {
  element: Buffer;
  /** Offsets inside `element` of the reserved Void of each compressed track. */
  reserveAt: { video: number | null; audio: number | null };
}

export function buildTracks(video: MkvVideoTrack | null, videoTrack: number, audio: MkvAudioTrack | null, audioTrack: number): BuiltTracks {
  const entries: Array<{ entry: Buffer; reserve: boolean; kind: 'video' | 'audio' }> = [];
  if (video) {
    const h264 = video.codec === 'h264';
    const settings = [E.master(ID.Video, [E.uint(ID.PixelWidth, video.width), E.uint(ID.PixelHeight, video.height)])];
    entries.push({ entry: trackEntry(videoTrack, 1, 'camera', h264 ? 'V_MPEG4/ISO/AVC' : 'V_MJPEG', settings, h264), reserve: h264, kind: 'video' });
  }
  if (audio) {
    const opus = audio.codec === 'opus';
    const settings = opus
      ? [E.uint(ID.SeekPreRoll, OPUS_SEEK_PRE_ROLL_NS), E.master(ID.Audio, [E.float64(ID.SamplingFrequency, 48000), E.uint(ID.Channels, audio.channels)])]
      : [E.master(ID.Audio, [E.float64(ID.SamplingFrequency, audio.sampleRate), E.uint(ID.Channels, audio.channels), E.uint(ID.BitDepth, 16)])];
    entries.push({ entry: trackEntry(audioTrack, 2, 'microphone', opus ? 'A_OPUS' : 'A_PCM/INT/LIT', settings, opus), reserve: opus, kind: 'audio' });
  }
  const body = Buffer.concat(entries.map((e) => e.entry));
  const element = E.element(ID.Tracks, body);
  const reserveAt: BuiltTracks['reserveAt'] = { video: null, audio: null };
  let at = element.length - body.length;
  for (const e of entries) {
    if (e.reserve) reserveAt[e.kind] = at + e.entry.length - CODEC_PRIVATE_RESERVE;
    at += e.entry.length;
  }
  return { element, reserveAt };
}

/** Exactly CODEC_PRIVATE_RESERVE bytes: CodecPrivate, CodecDelay when given, and a Void for the rest. */
export function codecPrivatePatch(data: Buffer, codecDelayNs: number | null): Buffer {
  if (data.length === 0 || data.length > MAX_CODEC_PRIVATE) throw new RangeError(`CodecPrivate of ${data.length} bytes; 1..${MAX_CODEC_PRIVATE} fit`);
  const used = Buffer.concat([E.binary(ID.CodecPrivate, data), ...(codecDelayNs !== null ? [E.uint(ID.CodecDelay, codecDelayNs)] : [])]);
  return Buffer.concat([used, E.voidElement(CODEC_PRIVATE_RESERVE - used.length)]);
}
