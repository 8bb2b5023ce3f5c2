/**
 * The real MetadataServer, run inside a node namespace on 169.254.169.254 with the real
 * driver's bridges and rules around it: each guest sees its own identity and nobody else's,
 * across tenants too; a guest forging a neighbour's address gets nothing; unknown callers 404.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_PATH } from '../../src/agent/metadata-server.ts';
import type { InstanceIdentity } from '../../src/agent/metadata-server.ts';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import type { HostNetworkState, InstanceNetSpec, TenantNetSpec } from '../../src/ports/network.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('metadata endpoint', [await netGate('metadata endpoint')]);

const METADATA = { ip: '169.254.169.254', port: 80 };
const URL = `http://${METADATA.ip}${IDENTITY_PATH}`;
const tenant = (netId: number): TenantNetSpec => ({
  netId,
  subnet: `10.240.${netId}.0/24`,
  gateway: `10.240.${netId}.1`,
  egress: false,
  vxlanPeers: [],
});
const inst = (netId: number, octet: number): InstanceNetSpec => ({
  tenantNetId: netId,
  tap: tapName(netId, octet),
  ip: `10.240.${netId}.${octet}`,
  mac: macFor(netId, octet),
});
const a = inst(5, 3);
const b = inst(5, 4);
const stranger = inst(5, 5);
const c = inst(6, 3);
const identity = (i: InstanceNetSpec, tenantId: string, name: string): InstanceIdentity => ({
  tenant: tenantId,
  pool: 'workers',
  instance: name,
  ip: i.ip,
  revision: 'rev-1',
});
/** The stranger is on the network but the agent knows no identity for it. */
const identities = [
  identity(a, 'acme', 'inst-a'),
  identity(b, 'acme', 'inst-b'),
  identity(c, 'zeta', 'inst-c'),
];
const state: HostNetworkState = {
  tenants: [tenant(5), tenant(6)],
  instances: [a, b, stranger, c],
  services: { metadata: METADATA },
};

describe.runIf(gate.run)('metadata endpoint on the tenant bridges (real packets)', () => {
  let lab: NetLab;
  let logDir: string;
  const g: Record<'a' | 'b' | 'stranger' | 'c', string> = { a: '', b: '', stranger: '', c: '' };

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'mvm-meta-'));
    lab = new NetLab(logDir);
    const node = await lab.namespace('meta-node');
    for (const [name, spec] of Object.entries({ a, b, stranger, c })) {
      const gateway = `10.240.${spec.tenantNetId}.1`;
      g[name as keyof typeof g] = await lab.guest(node, `meta-${name}`, { ...spec, gateway });
    }
    await new LinuxNetworkDriver({ runner, netns: node }).apply(state);
    const script = join(import.meta.dirname, 'support', 'metadata-host.ts');
    await lab.start(node, 'metadata', script, [
      METADATA.ip,
      String(METADATA.port),
      JSON.stringify(identities),
    ]);
  });

  afterAll(async () => {
    await lab?.cleanup();
    await rm(logDir, { recursive: true, force: true });
  });

  it('answers each guest with its own identity only, in either tenant', async () => {
    const [ra, rb, rc] = await Promise.all([
      lab.httpGet(g.a, URL),
      lab.httpGet(g.b, URL),
      lab.httpGet(g.c, URL),
    ]);
    expect(ra).toBe(`200 ${JSON.stringify(identities[0])}`);
    expect(rb).toBe(`200 ${JSON.stringify(identities[1])}`);
    expect(rc).toBe(`200 ${JSON.stringify(identities[2])}`);
  });

  it('answers 404 to a caller it has no identity for, and to any other path', async () => {
    expect(await lab.httpGet(g.stranger, URL)).toMatch(/^404 /);
    expect(await lab.httpGet(g.a, `http://${METADATA.ip}/v1/instances`)).toMatch(/^404 /);
  });

  it("gives a guest forging its neighbour's address nothing at all", async () => {
    await lab.ip(g.a, ['addr', 'add', `${b.ip}/32`, 'dev', 'eth0']);
    await lab.ip(g.a, ['route', 'add', `${METADATA.ip}/32`, 'via', '10.240.5.1', 'src', b.ip]);
    expect(await lab.httpGet(g.a, URL)).toBeUndefined();
    await lab.ip(g.a, ['route', 'del', `${METADATA.ip}/32`]);
    await lab.ip(g.a, ['addr', 'del', `${b.ip}/32`, 'dev', 'eth0']);
    expect(await lab.httpGet(g.a, URL)).toBe(`200 ${JSON.stringify(identities[0])}`);
  });
});
