// The settings every candidate connection shares, resolved from the server's options with their defaults; apart
// from server.ts so that the defaults are read in one place.
import { DEFAULT_LIMITS } from '../protocol';
import { AnalysisTurns } from './analysis-turns';
import type { ConnectionSettings } from './connection-host';
import type { ServerOptions } from './server-options';

export function connectionSettings(opts: ServerOptions): ConnectionSettings {
  return {
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 10_000,
    closeTimeoutMs: opts.closeTimeoutMs ?? 2_000,
    maxOutboundBytes: opts.maxOutboundBytes ?? 1024 * 1024,
    recorderHighWaterBytes: opts.recorderHighWaterBytes ?? 8 * 1024 * 1024,
    maxClockLeadMs: 10_000,
    maxMessagesPerSecond: opts.maxMessagesPerSecond ?? 300,
    drainTimeoutMs: opts.drainTimeoutMs ?? 10_000,
    analyzer: opts.analyzer ?? null,
    analysisTurns: opts.analyzer ? AnalysisTurns.forProcesses(opts.analyzer.size) : null,
    analyzeIntervalMs: 1000 / (opts.analyzeFps ?? 5),
    verdictRepeatMs: opts.verdictRepeatMs ?? 3_000,
  };
}
