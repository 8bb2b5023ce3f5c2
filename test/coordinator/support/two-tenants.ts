import { type Api, ok } from '../api-client-harness.ts';

export interface InstanceJson {
  tenantId: string;
  poolId: string;
  id: string;
  nodeId: string;
  status: string;
}

/** acme's one instance on one node, beta's on the other (each node fits one). */
export async function twoTenantsOnTwoNodes(
  api: Api,
): Promise<{ a: InstanceJson; b: InstanceJson }> {
  const capacity = { vcpus: 1, memMib: 1024, diskGib: 10 };
  for (const node of ['node-1', 'node-2']) {
    await ok(api, 'PUT', `/nodes/${node}`, { hostname: node, arch: 'x86_64', capacity });
  }
  for (const tenant of ['acme', 'beta']) {
    await ok(api, 'POST', '/tenants', { id: tenant });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', `/tenants/${tenant}/pools`, pool);
    await ok(api, 'POST', `/tenants/${tenant}/pools/web/scale`, { running: 1 });
  }
  const instances = (await ok(api, 'GET', '/instances')) as InstanceJson[];
  const a = instances.find((i) => i.tenantId === 'acme');
  const b = instances.find((i) => i.tenantId === 'beta');
  if (!a || !b || a.nodeId === b.nodeId) throw new Error(`placement: ${JSON.stringify(instances)}`);
  return { a, b };
}
