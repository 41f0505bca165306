// `vigil serve --nats URL --node NAME`: attaches the cluster adapter to a listening server. Without --nats nothing here runs.
import os from 'node:os';
import type { Logger } from 'pino';
import { ClusterNode } from '../cluster/node';
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

export function startCluster(flags: ClusterFlags, target: AdminTarget, listen: string, version: string, log: Logger): ClusterNode | null {
  if (!flags.nats) return null;
  return new ClusterNode({ url: flags.nats, node: flags.node ?? defaultNodeName(), exam: flags.exam ?? DEFAULT_EXAM, listen, version, target, log: log.child({ part: 'cluster' }) });
}
