import { expect } from 'vitest';
import type { CoordinatorApp, CoordinatorAppDeps } from '../../src/coordinator/app.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';

export const ADMIN = 'test-admin-token-0123456789';

export const fixedClock: Clock = {
  now: () => new Date('2026-11-22T00:00:00.000Z'),
  sleep: async () => {},
};

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** An in-process coordinator over a given store, called like an HTTP client would. */
export async function apiOver(store: Store, extra: Partial<CoordinatorAppDeps> = {}) {
  let counter = 0;
  const { app } = await coordinatorWorld(store, {
    clock: fixedClock,
    randomSuffix: () => `s${(counter += 1)}`,
    admin: ADMIN,
    ...extra,
  });
  return apiOn(app);
}

/** Calls to a coordinator app, as an HTTP client would make them (admin token by default). */
export function apiOn(app: CoordinatorApp['app']) {
  async function call(
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; token?: string | null } = {},
  ): Promise<ApiResponse> {
    const token = options.token === undefined ? ADMIN : options.token;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (options.raw !== undefined) init.body = options.raw;
    else if (options.body !== undefined) init.body = JSON.stringify(options.body);
    const response = await app.request(`/v1${path}`, init);
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
  }
  /** A request exactly as given (headers, streamed bodies), for what `call` cannot express. */
  const request = (path: string, init: RequestInit) => app.request(`/v1${path}`, init);
  return { call, request };
}

export type Api = Awaited<ReturnType<typeof apiOver>>;

export function errorCode(response: ApiResponse): string | undefined {
  return (response.body as { error?: { code?: string } }).error?.code;
}

/** The body of a successful answer (status below 300); anything else throws, naming the request. */
export async function ok(api: Api, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await api.call(method, path, { body });
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** As `ok`, but a failed request is a failed expectation (status below 300) with the body. */
export async function expectOk(
  api: Api,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await api.call(method, path, { body });
  expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
  return response.body;
}

/** Nodes node-1 and node-2 registered, each with `capacity`. */
export async function twoNodes(
  api: Api,
  capacity: { vcpus: number; memMib: number; diskGib: number },
): Promise<void> {
  for (const node of ['node-1', 'node-2']) {
    await ok(api, 'PUT', `/nodes/${node}`, { hostname: node, arch: 'x86_64', capacity });
  }
}

/** Tenant `tenant` with pool web (1 vCPU, 256 MiB), scaled to `running` when given. */
export async function tenantWithWeb(api: Api, tenant: string, running?: number): Promise<void> {
  await ok(api, 'POST', '/tenants', { id: tenant });
  const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
  await ok(api, 'POST', `/tenants/${tenant}/pools`, pool);
  if (running !== undefined) {
    await ok(api, 'POST', `/tenants/${tenant}/pools/web/scale`, { running });
  }
}
