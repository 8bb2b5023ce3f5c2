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
