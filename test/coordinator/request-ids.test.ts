/**
 * Request ids over HTTP on SQLite and Postgres: the coordinator takes the caller's X-Request-Id
 * (or makes one), answers it, and writes it in the log lines of that request; a bad one is a
 * 400 that changes nothing; an agent's status report carries one id in the agent's log and the
 * coordinator's; the CLI prints the id of a failed request.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import { renderError } from '../../src/cli/render.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { serveForSuite } from '../support/served-coordinator.ts';
import { until } from '../support/until.ts';

const ADMIN = 'reqid-admin-token-0123456789abcdef';

interface Line {
  requestId?: string;
  msg?: string;
  status?: number;
  path?: string;
  method?: string;
}

function memoryLogger(lines: Line[]) {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n'))
        if (text !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`request ids [${db.name}]`, () => {
    const logged: Line[] = [];
    const served = serveForSuite(db, 'mvm-reqid-', ADMIN, { logger: memoryLogger(logged) });
    const admin = () => served.client();
    const linesOf = (id: string) => logged.filter((l) => l.requestId === id);

    it("logs and answers the caller's id, or one it made", async () => {
      await admin().call(
        'createTenant',
        { body: { id: 'acme', netId: 42 } },
        { requestId: 'op-create-acme' },
      );
      expect(linesOf('op-create-acme')).toContainEqual(
        expect.objectContaining({ method: 'POST', path: '/v1/tenants', status: 201 }),
      );
      const made = await fetch(`${served.url()}/v1/tenants`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(made.headers.get('x-request-id')).toMatch(/^req-[0-9a-f]{16}$/);
      const echoed = await fetch(`${served.url()}/v1/health`, {
        headers: { 'x-request-id': 'mine.1:2-3' },
      });
      expect(echoed.headers.get('x-request-id')).toBe('mine.1:2-3');
    });

    it('answers the id once on every kind of answer, and counts a routed request once under its route', async () => {
      const url = served.url();
      const auth = { authorization: `Bearer ${ADMIN}` };
      const kinds: [string, RequestInit, number, string][] = [
        ['/v1/tenants', { headers: auth }, 200, 'application/json'],
        ['/v1/tenants/nobody', { headers: auth }, 404, 'application/json'],
        ['/v1/tenants', {}, 401, 'application/json'],
        ['/v1/no/such/route', {}, 404, 'application/json'],
        ['/v1/openapi.json', {}, 200, 'application/json'],
        ['/ui/', {}, 200, 'text/html'],
      ];
      for (const [path, init, status, type] of kinds) {
        const id = `kind-${status}-${path.length}`;
        const answer = await fetch(`${url}${path}`, {
          ...init,
          headers: { ...init.headers, 'x-request-id': id },
        });
        const body = await answer.text();
        expect([path, answer.status], body).toEqual([path, status]);
        // Once: a second X-Request-Id field would read `id, id`.
        expect(answer.headers.get('x-request-id'), path).toBe(id);
        expect(answer.headers.get('content-type'), path).toContain(type);
        expect(answer.headers.get('content-length'), path).toBe(String(Buffer.byteLength(body)));
      }
      const counted = async (route: string, code: number) => {
        const text = await (await fetch(`${url}/v1/metrics`, { headers: auth })).text();
        const series = `mvm_http_request_duration_seconds_count{route="${route}",method="GET",code="${code}"} `;
        const line = text.split('\n').find((l) => l.startsWith(series));
        return Number(line?.slice(series.length) ?? 0);
      };
      const [refused, read, missing] = [
        await counted('listTenants', 401),
        await counted('listTenants', 200),
        await counted('getTenant', 404),
      ];
      await fetch(`${url}/v1/tenants`);
      await fetch(`${url}/v1/tenants`);
      await fetch(`${url}/v1/tenants`, { headers: auth });
      await fetch(`${url}/v1/tenants/nobody`, { headers: auth });
      await fetch(`${url}/v1/no/such/route`);
      expect(await counted('listTenants', 401)).toBe(refused + 2);
      expect(await counted('listTenants', 200)).toBe(read + 1);
      expect(await counted('getTenant', 404)).toBe(missing + 1);
      const routes = await (await fetch(`${url}/v1/metrics`, { headers: auth })).text();
      expect(routes).not.toMatch(/mvm_http_request_duration_seconds_count\{route="(undefined)?"/);
    });

    it('makes a distinct id for each of 1,200 requests (across refills of its random pool)', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 1200; i += 1) {
        const answer = await fetch(`${served.url()}/v1/health`);
        const id = answer.headers.get('x-request-id') ?? '';
        expect(id).toMatch(/^req-[0-9a-f]{16}$/);
        ids.add(id);
      }
      expect(ids.size).toBe(1200);
    });

    it('answers a bad id with a 400 that changes nothing', async () => {
      for (const bad of ['-lead', 'a'.repeat(129), 'sp ace', 'x/y', 'é']) {
        const response = await fetch(`${served.url()}/v1/tenants`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${ADMIN}`,
            'content-type': 'application/json',
            'x-request-id':
              encodeURIComponent(bad) === bad ? bad : bad.replace(/[^\x20-\x7e]/g, '?'),
          },
          body: JSON.stringify({ id: 'never', netId: 50 }),
        });
        expect(response.status, bad).toBe(400);
        expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
          /X-Request-Id/,
        );
      }
      const tenants = await admin().call('listTenants', {});
      expect(tenants.map((t) => t.id)).toEqual(['acme']);
    });

    it("carries one id through an agent's status report into both logs", async () => {
      const api = admin();
      await api.call('registerNode', {
        params: { node: 'node-1' },
        body: {
          hostname: 'node-1',
          arch: 'x86_64',
          capacity: { vcpus: 8, memMib: 8192, diskGib: 100 },
        },
      });
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'web', vcpus: 1, memMib: 256 },
      });
      const { created } = await api.call('scalePool', {
        params: { tenant: 'acme', pool: 'web' },
        body: { running: 1 },
      });
      const instance = created[0];
      if (instance === undefined) throw new Error('no instance');
      const agentLines: Line[] = [];
      const reporter = coordinatorReporter(api, 'node-1', memoryLogger(agentLines));
      await reporter.report(
        { tenantId: 'acme', poolId: 'web', instanceId: instance.id },
        'running',
      );
      const said = agentLines.find((l) => l.requestId !== undefined);
      expect(said?.msg).toBe('reported instance status');
      expect(said?.requestId).toMatch(/^req-/);
      const id = said?.requestId ?? '';
      expect(linesOf(id)).toContainEqual(
        expect.objectContaining({
          method: 'PUT',
          status: 200,
          path: expect.stringContaining(instance.id),
        }),
      );
    });

    it("puts the id of each instance's last change in its node's document", async () => {
      const api = admin();
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'api', vcpus: 1, memMib: 256 },
      });
      const { created } = await api.call(
        'scalePool',
        { params: { tenant: 'acme', pool: 'api' }, body: { running: 1 } },
        { requestId: 'op-scale-api' },
      );
      const id = created[0]?.id ?? '';
      const entry = async () => {
        const answer = await api.call('watchNodeDesired', {
          params: { node: 'node-1' },
          query: { after: '0', waitMs: '0' },
        });
        if (!('payload' in answer)) return undefined;
        const doc = JSON.parse(answer.payload) as NodeDesired;
        const pool = doc.tenants.flatMap((t) => t.pools).find((p) => p.id === 'api');
        return pool?.instances.find((i) => i.id === id);
      };
      await until('the instance in the document', async () => (await entry()) ?? undefined);
      expect(await entry()).toMatchObject({ desiredStatus: 'running', requestId: 'op-scale-api' });
      const params = { tenant: 'acme', pool: 'api', instance: id };
      await api.call(
        'instanceAction',
        { params, body: { action: 'sleep' } },
        { requestId: 'op-sleep-api' },
      );
      expect(await entry()).toMatchObject({ desiredStatus: 'sleeping', requestId: 'op-sleep-api' });
      // A status report changes no entry: the id stays that of the last change of intent.
      const reporter = coordinatorReporter(api, 'node-1', memoryLogger([]));
      await reporter.report({ tenantId: 'acme', poolId: 'api', instanceId: id }, 'running');
      expect((await api.call('getInstance', { params })).status).toBe('running');
      expect(await entry()).toMatchObject({ requestId: 'op-sleep-api' });
    });

    it('prints the id of a failed request, the one the coordinator logged', async () => {
      const failed = await admin()
        .call('getTenant', { params: { tenant: 'nope' } })
        .catch((error: unknown) => error);
      const text = renderError(failed, false);
      const id = /\(request id (\S+)\)/.exec(text)?.[1];
      expect(id).toMatch(/^req-/);
      expect(linesOf(id ?? '')).toContainEqual(expect.objectContaining({ status: 404 }));
    });
  });
}
