import type { Logger } from 'pino';
import type { DetectionStatus, ServerEvent } from '../protocol';
import type { FrameAnalyzer } from './frame-slot';
import { nowIso } from './events';

/**
 * Follows the analyzer's health for the server: publishes detector_down / detector_up, answers what status
 * shows, and tells the server when detection is lost so that it can mark faces unknown and tell candidates.
 * The analyzer does not know the server; the server subscribes here.
 */
export class DetectionWatch {
  private state: DetectionStatus;
  private readonly unsubscribe: () => void;

  constructor(
    analyzer: FrameAnalyzer | null,
    private readonly log: Logger,
    private readonly publish: (e: ServerEvent) => void,
    private readonly onLost: (reason: string) => void,
  ) {
    this.state = analyzer ? { state: 'up' } : { state: 'off' };
    const health = analyzer?.health;
    if (health && !health.up) this.state = { state: 'down', reason: health.reason, since: health.since.toISOString() };
    this.unsubscribe =
      analyzer?.onHealth?.((h) => {
        if (!h.up) {
          this.state = { state: 'down', reason: h.reason, since: h.since.toISOString() };
          this.log.error({ retryInMs: h.retryInMs }, `face detection unavailable: ${h.reason}; recording continues, faces are unknown until it is back`);
          this.publish({ kind: 'detector_down', at: nowIso(), reason: h.reason, retry_in_s: h.retryInMs === null ? null : Math.round(h.retryInMs / 100) / 10 });
          this.onLost(h.reason);
          return;
        }
        const was = this.state;
        this.state = { state: 'up' };
        const downS = was.state === 'down' ? Math.round((Date.now() - Date.parse(was.since)) / 100) / 10 : 0;
        this.log.info({ downS }, 'face detection available again');
        this.publish({ kind: 'detector_up', at: nowIso(), down_s: downS });
      }) ?? (() => undefined);
  }

  get status(): DetectionStatus {
    return this.state;
  }

  close(): void {
    this.unsubscribe();
  }
}
