export type Track = 'video' | 'audio';

/** One captured frame or chunk, as numbered for the session it was captured in. */
export interface Captured {
  kind: Track;
  seq: number;
  /** On the session's timeline (what travels in the message). */
  timestampMs: number;
  /** Since this client's stream began: what a person reading the summary can place. */
  captureMs: number;
  durationMs: number;
  /** Audio sample frames (one per channel set); 0 for video. */
  samples: number;
  data: Buffer;
  /** H.264 only: an IDR picture, where a decoder (and a resume) can start. */
  keyframe?: boolean;
  sent: boolean;
  /** Index of the session (in MediaAccount) the item was numbered for. */
  session: number;
}

/**
 * The last `keepMs` of captured media, oldest first, kept for resending after a reconnect. Items pushed out
 * before they were ever sent are handed back to the caller as lost.
 */
export class ResendBuffer {
  private items: Captured[] = [];
  private bytes = 0;

  constructor(
    private readonly keepMs: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** Keeps `c`; returns the unsent items that fell out of the buffer to make room. */
  add(c: Captured): Captured[] {
    this.items.push(c);
    this.bytes += c.data.length;
    const keepFrom = c.captureMs - this.keepMs;
    const lost: Captured[] = [];
    while (this.items.length > 0 && (this.items[0]!.captureMs < keepFrom || this.bytes > this.maxBytes)) {
      const old = this.items.shift()!;
      this.bytes -= old.data.length;
      if (!old.sent) lost.push(old);
    }
    return lost;
  }

  /**
   * Items the server has not recorded according to its last sequence numbers, oldest first. H.264 video starts
   * at a keyframe, since the server's decoder state starts afresh with each connection: when the next frame the
   * server needs is still here, from the last keyframe at or before it (the server skips the repeats); when it
   * fell out of the buffer, from the first keyframe after it (the frames in between could not be decoded).
   */
  after(last: Record<Track, number>): Captured[] {
    const wanted = this.items.filter((c) => c.seq > last[c.kind]);
    const firstVideo = wanted.find((c) => c.kind === 'video');
    if (firstVideo?.keyframe !== false) return wanted;
    const video = this.items.filter((c) => c.kind === 'video');
    const at = video.indexOf(firstVideo);
    let from: Captured | undefined;
    if (firstVideo.seq === last.video + 1) for (let i = at; i >= 0 && !from; i--) if (video[i]!.keyframe) from = video[i];
    from ??= video.slice(at).find((c) => c.keyframe);
    return this.items.filter((c) => (c.kind === 'video' ? from !== undefined && c.seq >= from.seq : c.seq > last.audio));
  }

  get unsent(): Captured[] {
    return this.items.filter((c) => !c.sent);
  }

  /** Empties the buffer (a new session cannot take the old numbering); returns what was never sent. */
  clear(): Captured[] {
    const lost = this.unsent;
    this.items = [];
    this.bytes = 0;
    return lost;
  }
}
