import { expect } from 'vitest';
import type { Api, ApiResponse } from './api-client-harness.ts';
import { errorCode } from './api-client-harness.ts';

/**
 * Helpers for driving one in-process coordinator with many clients at once, and for the
 * invariants that must hold whatever the interleaving: quotas, unique network identity,
 * no 5xx.
 */
export type Json = Record<string, unknown>;

export interface Outcome {
  label: string;
  status: number;
  code: string | undefined;
  message: string | undefined;
}

/** Starts every call before awaiting any, so they overlap in the server. */
export async function burst(
  calls: ReadonlyArray<readonly [label: string, call: () => Promise<ApiResponse>]>,
): Promise<Outcome[]> {
  return Promise.all(
    calls.map(async ([label, call]) => {
      const response = await call();
      return {
        label,
        status: response.status,
        code: response.status >= 400 ? errorCode(response) : undefined,
        message: (response.body as { error?: { message?: string } } | undefined)?.error?.message,
      };
    }),
  );
}

/** Answers that are not the requester's own fault or a legitimate race loss. */
export function unexpected(
  outcomes: readonly Outcome[],
  allowed: (o: Outcome) => boolean,
): Outcome[] {
  return outcomes.filter((o) => o.status >= 500 || (o.status >= 300 && !allowed(o)));
}

export const POOL = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 128 };

export async function createTenant(api: Api, id: string, quotas: Json = {}): Promise<Json> {
  const created = await api.call('POST', '/tenants', { body: { id, quotas } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as Json;
}

export async function createPool(api: Api, tenant: string, id: string, spec: Json = {}) {
  const created = await api.call('POST', `/tenants/${tenant}/pools`, {
    body: { id, ...POOL, ...spec },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

export async function instancesOf(api: Api, tenant?: string): Promise<Json[]> {
  const path = tenant === undefined ? '/instances' : `/instances?tenant=${tenant}`;
  const listed = await api.call('GET', path);
  expect(listed.status).toBe(200);
  return listed.body as Json[];
}

/** How many of a tenant's instances are meant to be running. */
export async function desiredRunning(api: Api, tenant: string): Promise<number> {
  return (await instancesOf(api, tenant)).filter((i) => i.desiredStatus === 'running').length;
}

interface TenantState {
  id: string;
  netId: number;
  subnet: string;
  quotas: Record<string, number>;
  usage: Record<string, number>;
  pools: Json[];
}

/** Every tenant with its quotas, usage and pools, as the API shows them. */
export async function tenantStates(api: Api): Promise<TenantState[]> {
  const tenants = (await api.call('GET', '/tenants')).body as TenantState[];
  const states: TenantState[] = [];
  for (const tenant of tenants) {
    const detail = await api.call('GET', `/tenants/${tenant.id}`);
    const pools = await api.call('GET', `/tenants/${tenant.id}/pools`);
    // Destroyed meanwhile by nobody: the run is over, so both must answer.
    expect(detail.status).toBe(200);
    expect(pools.status).toBe(200);
    states.push({ ...(detail.body as TenantState), pools: pools.body as Json[] });
  }
  return states;
}

/**
 * What every run must leave behind: each tenant within every quota (judged by desired
 * status, as the server judges), and no net id, subnet, instance IP (per tenant) or MAC twice.
 */
export async function expectInvariants(api: Api): Promise<void> {
  const tenants = await tenantStates(api);
  const instances = await instancesOf(api);
  for (const t of tenants) {
    const mine = instances.filter((i) => i.tenantId === t.id);
    const running = mine.filter((i) => i.desiredStatus === 'running').length;
    const warm = mine.filter((i) => i.desiredStatus === 'warm').length;
    const label = `tenant ${t.id} quotas ${JSON.stringify(t.quotas)}`;
    expect(running, `${label}: desired running`).toBeLessThanOrEqual(t.quotas.maxRunning ?? 0);
    expect(warm, `${label}: desired warm`).toBeLessThanOrEqual(t.quotas.maxWarm ?? 0);
    expect(t.pools.length, `${label}: pools`).toBeLessThanOrEqual(t.quotas.maxPools ?? 0);
    expect(t.usage.vcpus, `${label}: vcpus`).toBeLessThanOrEqual(t.quotas.maxVcpus ?? 0);
    expect(t.usage.memMib, `${label}: memory`).toBeLessThanOrEqual(t.quotas.maxMemMib ?? 0);
    expect(t.usage.running).toBe(running);
    expect(t.usage.warm).toBe(warm);
    for (const pool of t.pools) {
      const inPool = mine.filter((i) => i.poolId === pool.id && i.desiredStatus !== 'destroyed');
      expect(inPool.length, `${label}: pool ${String(pool.id)}`).toBeLessThanOrEqual(
        t.quotas.maxInstancesPerPool ?? 0,
      );
    }
    const ips = mine.map((i) => i.ip);
    expect(new Set(ips).size, `${label}: duplicate IPs ${ips.join(',')}`).toBe(ips.length);
  }
  const netIds = tenants.map((t) => t.netId);
  expect(new Set(netIds).size, `duplicate net ids ${netIds.join(',')}`).toBe(netIds.length);
  expect(new Set(tenants.map((t) => t.subnet)).size).toBe(tenants.length);
  const macs = instances.map((i) => i.mac);
  expect(new Set(macs).size, 'duplicate MACs').toBe(macs.length);
}
