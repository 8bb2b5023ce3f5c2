import type { CoordinatorAppDeps } from '../../src/coordinator/app.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';
import { ADMIN, type ApiResponse } from './api-client-harness.ts';

/** Time that moves only when a test says so. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  now = (): Date => new Date(this.ms);
  sleep = async (): Promise<void> => {};
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const START = Date.parse('2026-11-22T00:00:00.000Z');
export const LOST_AFTER_MS = 30_000;

export interface InstanceJson {
  tenantId: string;
  poolId: string;
  id: string;
  ip: string;
  mac: string;
  status: string;
  desiredStatus: string;
  nodeId: string | null;
  failureReason: string | null;
  statusSince: string | null;
  lastActiveAt: string | null;
}

/** An in-process coordinator on a manual clock, with its services for loss detection. */
export async function fleetOver(store: Store, extra: Partial<CoordinatorAppDeps> = {}) {
  const clock = new ManualClock(START);
  let counter = 0;
  const { app, services } = await coordinatorWorld(store, {
    clock,
    randomSuffix: () => `s${(counter += 1)}`,
    nodeLostAfterMs: LOST_AFTER_MS,
    admin: ADMIN,
    ...extra,
  });

  async function call(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = ADMIN,
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await app.request(`/v1${path}`, init);
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
  }

  async function ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await call(method, path, body);
    if (answer.status >= 300) {
      throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  const capacity = (vcpus: number, memMib = vcpus * 1024) => ({ vcpus, memMib, diskGib: 50 });

  return {
    app,
    clock,
    services,
    call,
    ok,
    capacity,
    registerNode: (id: string, vcpus: number, memMib?: number) =>
      ok('PUT', `/nodes/${id}`, {
        hostname: id,
        arch: 'x86_64',
        capacity: capacity(vcpus, memMib),
      }),
    heartbeat: (id: string, vcpus: number, instances: unknown[] = [], memMib?: number) =>
      call('POST', `/nodes/${id}/heartbeat`, {
        capacity: capacity(vcpus, memMib),
        usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1000 },
        instances,
      }),
    instances: async (query = '') => (await ok('GET', `/instances${query}`)) as InstanceJson[],
    report: (i: InstanceJson, status: string) =>
      ok('PUT', `/nodes/${i.nodeId ?? ''}/instances/${i.tenantId}/${i.poolId}/${i.id}/status`, {
        status,
      }),
    /** The ids named by a node's current desired document. */
    documentIds: async (node: string): Promise<string[]> => {
      const issued = await services.desired.issue(node);
      const doc = JSON.parse(issued.envelope.payload) as {
        tenants: Array<{ pools: Array<{ instances: Array<{ id: string }> }> }>;
      };
      return doc.tenants.flatMap((t) => t.pools.flatMap((p) => p.instances.map((i) => i.id)));
    },
  };
}

export type Fleet = Awaited<ReturnType<typeof fleetOver>>;
