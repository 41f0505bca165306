import net from 'node:net';

/** A TCP relay between client and server whose links the test can cut, as a flaky network would. */
export async function flakyLink(t: { after(fn: () => void): void }, targetPort: number): Promise<{ port: number; cut: () => number }> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    // Resets both sides mid-stream: whatever was in flight is lost.
    cut: () => {
      const n = pairs.size;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
  };
}
