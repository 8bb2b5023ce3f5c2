import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentMetrics } from './agent-metrics.ts';

/**
 * Serves GET /metrics over plain HTTP for Prometheus, at the address the operator chose
 * (`agent.metricsListen`; bind it to a scrape network: the series name tenants, pools and
 * instances). Nothing else is served there. Resolves to the bound address and a stop.
 */
export async function serveMetrics(
  metrics: AgentMetrics,
  at: { host: string; port: number },
): Promise<{ address: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('only GET /metrics is served here\n');
      return;
    }
    metrics.render().then(
      (scrape) => res.writeHead(200, { 'content-type': scrape.contentType }).end(scrape.text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await listen(server, at);
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: `${host}:${bound.port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

function listen(server: Server, at: { host: string; port: number }): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(at.port, at.host, () => done());
  });
}
