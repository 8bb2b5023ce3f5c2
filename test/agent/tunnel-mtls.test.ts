/**
 * The node tunnel of a joined host: opened with the node's certificate (mTLS) to an HTTPS
 * coordinator, and an exec through it from the CLI over wss with the coordinator's CA. The
 * sessions run in the real static guest agent on this host (no VM: the mTLS legs are the
 * point here; test/e2e/exec-qemu.test.ts runs a real guest). A certificate for another node
 * is refused at the upgrade, and the agent logs why.
 */
import { afterEach, expect, it } from 'vitest';
import { keepTunnel } from '../../src/agent/tunnel/tunnel-client.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { ADMIN, startTlsCoordinator, type TlsCoordinator } from '../coordinator/join-harness.ts';
import { cliAt, HostGuestSessions, keepingLogger } from '../support/exec-world.ts';
import { startHostAgent, type HostAgent } from '../support/host-agent.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { until } from '../support/until.ts';

const undo: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step();
});

async function ok(c: TlsCoordinator, method: string, path: string, body?: unknown) {
  const answer = await c.admin(method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body as Record<string, unknown>;
}

await describeEachDatabase('node tunnel over mTLS', ({ url }) => {
  it("carries an exec from the CLI (wss) over the joined node's tunnel (mTLS)", async () => {
    const coordinator = await startTlsCoordinator(url());
    undo.push(() => coordinator.close());
    const node = await coordinator.join('node-1');
    const stranger = await coordinator.join('node-2');
    await ok(coordinator, 'POST', '/tenants', { id: 'acme' });
    await ok(coordinator, 'POST', '/tenants/acme/pools', {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
    });
    const scaled = await ok(coordinator, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const placed = (scaled.created as Array<{ id: string }>)[0]?.id ?? '';
    await ok(coordinator, 'POST', '/scheduler/run');
    const nodeId = (await ok(coordinator, 'GET', `/tenants/acme/pools/web/instances/${placed}`))
      .nodeId as string;
    await ok(coordinator, 'PUT', `/nodes/${nodeId}/instances/acme/web/${placed}/status`, {
      status: 'running',
    });

    const host: HostAgent = await startHostAgent();
    undo.push(() => host.stop());
    const client = new GuestAgentClient(unixSocketTransport(host.socket));
    undo.push(async () => client.close());
    const abort = new AbortController();
    const log: Array<{ msg: string; obj: object }> = [];
    const joined = nodeId === 'node-1' ? node : stranger;
    const other = nodeId === 'node-1' ? stranger : node;
    const tunnel = (session: typeof node, nodeId: string) =>
      keepTunnel({
        baseUrl: coordinator.url,
        nodeId,
        auth: () => ({ tls: session.tlsMaterial() }),
        guests: new HostGuestSessions(client, () => placed),
        clock: systemClock,
        logger: keepingLogger(log),
        signal: abort.signal,
        backoff: { minMs: 100, maxMs: 200 },
      });
    // The other node's certificate cannot hold this node's tunnel.
    const impostor = tunnel(other, nodeId);
    const real = tunnel(joined, nodeId);
    undo.push(async () => {
      abort.abort();
      await Promise.all([impostor.done, real.done]);
    });
    await until('the tunnel', () => real.state.connected || undefined, 15_000, 20);
    await until('the refusal', () =>
      log.find((l) => l.msg === 'coordinator refused the tunnel') ? true : undefined,
    );
    expect(impostor.state.connections).toBe(0);
    const refusal = log.find((l) => l.msg === 'coordinator refused the tunnel')?.obj;
    expect(refusal).toMatchObject({
      status: 403,
      reason: expect.stringContaining('cannot act for node'),
    });

    const mvm = cliAt(coordinator.url, ADMIN, coordinator.caPem);
    expect(coordinator.url).toMatch(/^https:/);
    const run = await mvm([
      'instance',
      'exec',
      `acme/web/${placed}`,
      '--',
      'sh',
      '-c',
      'echo over mtls',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toBe('over mtls\n');
  }, 120_000);
});
