import { MAX_RECEIPT_GAPS, type ReceiptGap, type ReceiptMessage } from '../protocol';
import type { Session } from './session';

/**
 * One track's account of the sequence numbers a session recorded, kept across resumes: the first and last, how
 * many, and the holes between them (a client that lost media before resending it skips numbers). It is what
 * the RECEIPT reports, so a client can tell what the recording lacks without trusting its own guesses.
 */
export class TrackLedger {
  firstSeq = -1;
  lastSeq = -1;
  messages = 0;
  private lastTs = 0;
  readonly gaps: ReceiptGap[] = [];
  gapsTruncated = false;

  /** Starts from what earlier parts of the session hold (a continued part; see session-part.ts). */
  seed(firstSeq: number, lastSeq: number, lastTs: number, messages: number): void {
    this.firstSeq = firstSeq;
    this.lastSeq = lastSeq;
    this.lastTs = Number.isFinite(lastTs) ? lastTs : 0;
    this.messages = messages;
  }

  /** A message the session accepted for the recorder (sequence numbers only ever increase). */
  accept(seq: number, timestampMs: number): void {
    if (this.firstSeq < 0) this.firstSeq = seq;
    else if (seq > this.lastSeq + 1) {
      if (this.gaps.length < MAX_RECEIPT_GAPS) this.gaps.push({ fromSeq: this.lastSeq + 1, toSeq: seq - 1, afterMs: this.lastTs, beforeMs: timestampMs });
      else this.gapsTruncated = true;
    }
    this.lastSeq = seq;
    this.lastTs = timestampMs;
    this.messages++;
  }
}

export class MediaLedger {
  readonly video = new TrackLedger();
  readonly audio = new TrackLedger();
}

/** What a finalised session's recording holds: the recorder's own counts and the ledger's sequence numbers. */
export function receiptOf(session: Session, framesRecorded: number): ReceiptMessage {
  const { video, audio } = session.ledger;
  const sampleRate = session.init.audio?.sampleRate ?? 0;
  return {
    type: 'receipt',
    sessionId: session.init.sessionId,
    // Any failed write to the session's files (not only recording.mkv) means the recording is not intact.
    intact: !session.failed,
    gapsTruncated: video.gapsTruncated || audio.gapsTruncated,
    // A continued part's receipt covers the whole session: what earlier parts hold up to their checkpoint, plus this part.
    video: { messages: framesRecorded + session.carried.video.messages, samples: 0, firstSeq: video.firstSeq, lastSeq: video.lastSeq, gaps: video.gaps },
    audio: { messages: session.audioChunksRecorded + session.carried.audio.messages, samples: Math.round(session.audioSeconds * sampleRate) + session.carried.audio.samples, firstSeq: audio.firstSeq, lastSeq: audio.lastSeq, gaps: audio.gaps },
  };
}
