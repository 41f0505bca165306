// `vigil serve --nats URL --node NAME`: attaches the cluster adapter to a listening server. Without --nats nothing here runs.
import os from 'node:os';
import type { Logger } from 'pino';
import { ClusterNode } from '../cluster/node';
import { ClusterSessions } from '../cluster/sessions';
import { DEFAULT_EXAM, nameProblem } from '../cluster/wire';
import type { AdminTarget } from '../server/admin-server';

export interface ClusterFlags {
  nats?: string;
  node?: string;
  exam?: string;
}

/** Checks the cluster flags before the server starts; returns a message for the user, or null. */
export function clusterFlagsProblem(flags: ClusterFlags): string | null {
  if (!flags.nats) return flags.node || flags.exam ? '--node and --exam need --nats' : null;
  const node = flags.node ?? defaultNodeName();
  const bad = nameProblem(node) ? `--node ${JSON.stringify(node)}: ${nameProblem(node)}` : null;
  return bad ?? (flags.exam && nameProblem(flags.exam) ? `--exam ${JSON.stringify(flags.exam)}: ${nameProblem(flags.exam)}` : null);
}

function defaultNodeName(): string {
  return os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
}

export interface ServeCluster {
  /** The session table for the server's options (sessions of dead nodes continue here). */
  sessions: ClusterSessions;
  /** Joins the cluster once the server listens. */
  start(target: AdminTarget, listen: string): ClusterNode;
}

export function clusterFor(flags: ClusterFlags, version: string, log: Logger): ServeCluster | null {
  if (!flags.nats) return null;
  const url = flags.nats;
  const node = flags.node ?? defaultNodeName();
  const clog = log.child({ part: 'cluster' });
  const sessions = new ClusterSessions(node, clog);
  return {
    sessions,
    start: (target, listen) => new ClusterNode({ url, node, exam: flags.exam ?? DEFAULT_EXAM, listen, version, target, sessions, log: clog }),
  };
}
