import { NatsAdminClient, type ClusterStatus } from '../cluster/remote-admin';
import { statusTable } from './format';

export interface ClusterStatusOptions {
  nats: string;
  json: boolean;
  out: NodeJS.WritableStream;
}

function render(s: ClusterStatus, json: boolean): string {
  if (json) {
    return JSON.stringify({
      candidates: s.candidates,
      nodes: s.nodes.map((n) => ({ node: n.node, exam: n.exam, listen: n.listen, heartbeat_at: n.heartbeat_at, candidates: n.candidates, load: n.load, detection: n.detection, error: n.error })),
    });
  }
  const nodes = s.nodes.map((n) => `  ${n.node} (${n.exam}) on ${n.listen}: ${n.error ? `NOT ANSWERING: ${n.error}` : `${n.candidates.length} candidate(s), cpu ${n.load.cpu_percent}%, rss ${n.load.rss_mb} MB`}`);
  const head = `${s.nodes.length} live node(s), ${s.candidates.length} candidate(s)`;
  const body = s.candidates.length ? statusTable(s.candidates) : 'no candidates connected';
  const byNode = s.candidates.map((c) => `${c.id}@${c.node}`).join(' ');
  return `${head}\n${nodes.join('\n')}\n${body}${byNode ? `\nnodes: ${byNode}` : ''}`;
}

/** `vigil status --nats URL`: every candidate of every live node. Resolves with the exit code. */
export async function runClusterStatus(opts: ClusterStatusOptions): Promise<number> {
  const client = await NatsAdminClient.connect(opts.nats);
  try {
    const s = await client.clusterStatus();
    opts.out.write(render(s, opts.json) + '\n');
    // A node that is registered but did not answer is a failure a script must see.
    return s.nodes.some((n) => n.error) ? 1 : 0;
  } finally {
    client.close();
  }
}
