import { EventEmitter } from 'node:events';
import type { ServerEvent } from '../protocol';

/**
 * The server's only route to observers (admin socket, console, tests): typed events, one channel.
 * Listeners run synchronously; a listener that throws is logged by the emitter's owner, never allowed to
 * reach the connection that caused the event.
 */
export class ServerEvents {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (err: unknown) => void) {
    this.emitter.setMaxListeners(0);
  }

  publish(event: ServerEvent): void {
    for (const listener of this.emitter.listeners('event') as Array<(e: ServerEvent) => void>) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  subscribe(listener: (e: ServerEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
