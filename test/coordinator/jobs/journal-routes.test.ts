import { beforeEach, expect, it } from 'vitest';
import { instance, node } from '../../db/fixtures.ts';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { okModuleBase64 } from './job-module-fixture.ts';
import { callJobs, JOBS_ADMIN, seededJobsApp, type JobsApp } from './jobs-app-fixture.ts';
import { createHash } from 'node:crypto';

/** Loosely typed: the tests read fields the contract already checked. */
interface Answer {
  token?: string;
  job: { id: string };
  jobs: Array<{ id: string; leaseToken: string }>;
  error: { details: { reason: string } };
  entries: Array<{ seq: number; state: string; response: string | null }>;
  wasm: string;
  sha256: string;
  state: string;
  response: string | null;
  runAt: string;
}

const ADMIN = JOBS_ADMIN;

await describeEachDatabase('job journal routes', ({ store }) => {
  let app: JobsApp;

  beforeEach(async () => {
    // Tenant tokens are issued as for the route tests (the journal routes take the admin's).
    ({ app } = await seededJobsApp(store(), async (s) => {
      await s.nodes.upsert(node('node-2'));
      await s.instances.insert(instance('w-2', 11, { nodeId: 'node-2' }));
    }));
  });

  const call = (method: string, path: string, token: string, body?: unknown) =>
    callJobs<Answer>(app, method, path, token, body);

  const hash = (text: string) => createHash('sha256').update(text).digest('hex');

  async function claimed(): Promise<{ id: string; token: string }> {
    const submitted = await call('POST', '/tenants/acme/jobs', ADMIN, {
      pool: 'workers',
      wasm: okModuleBase64,
    });
    const id = String(submitted.body.job.id);
    const claim = await call('POST', '/nodes/node-1/jobs/claim', ADMIN, {
      tenant: 'acme',
      pool: 'workers',
      worker: 'w-1',
    });
    return { id, token: String(claim.body.jobs[0]?.leaseToken) };
  }

  it('the lease holder fetches the module, records and completes effects, and reads them back', async () => {
    const { id, token } = await claimed();
    const module = await call('POST', `/nodes/node-1/jobs/${id}/module`, ADMIN, { token });
    expect(module.status).toBe(200);
    expect(module.body.wasm).toBe(okModuleBase64);
    const post = '{"url":"http://127.0.0.1:1/x","method":"POST"}';
    const recorded = await call('POST', `/nodes/node-1/jobs/${id}/effects`, ADMIN, {
      token,
      seq: 0,
      op: 'http_fetch',
      requestHash: hash(post),
      request: post,
      idempotent: true,
    });
    expect(recorded.status).toBe(200);
    expect(recorded.body.state).toBe('recorded');
    const sent = await call('POST', `/nodes/node-1/jobs/${id}/effects/0/sent`, ADMIN, { token });
    expect(sent.body.state).toBe('sent');
    const done = await call('POST', `/nodes/node-1/jobs/${id}/effects/0/complete`, ADMIN, {
      token,
      response: '{"status":201}',
    });
    expect(done.body).toMatchObject({ state: 'completed', response: '{"status":201}' });
    const kv = '{"key":"count","value":"1"}';
    await call('POST', `/nodes/node-1/jobs/${id}/effects`, ADMIN, {
      token,
      seq: 1,
      op: 'kv_set',
      requestHash: hash(kv),
      request: kv,
      idempotent: false,
    });
    const set = await call('POST', `/nodes/node-1/jobs/${id}/effects/1/complete`, ADMIN, { token });
    expect(set.body.response).toBe('{"version":1}');
    expect(await store().jobJournal.kvGet('acme', 'count')).toEqual({ value: '1', version: 1 });
    const journal = await call('POST', `/nodes/node-1/jobs/${id}/journal`, ADMIN, { token });
    expect(journal.body.entries.map((e) => [e.seq, e.state])).toEqual([
      [0, 'completed'],
      [1, 'completed'],
    ]);
    // Not next: refused, nothing recorded.
    const skip = await call('POST', `/nodes/node-1/jobs/${id}/effects`, ADMIN, {
      token,
      seq: 5,
      op: 'now',
      requestHash: hash('{}'),
      request: '{}',
      idempotent: false,
    });
    expect(skip.status).toBe(409);
    expect(await store().jobJournal.entries(id)).toHaveLength(2);
  });

  it('another node, or a stale token, is refused lease_lost on every journal route and writes nothing', async () => {
    const { id, token } = await claimed();
    const now = '{}';
    const record = {
      token,
      seq: 0,
      op: 'now',
      requestHash: hash(now),
      request: now,
      idempotent: false,
    };
    for (const [path, body] of [
      [`/nodes/node-2/jobs/${id}/module`, { token }],
      [`/nodes/node-2/jobs/${id}/journal`, { token }],
      [`/nodes/node-2/jobs/${id}/effects`, record],
      [`/nodes/node-2/jobs/${id}/heartbeat`, { token }],
      [`/nodes/node-2/jobs/${id}/complete`, { outcome: 'succeeded', token, result: '{}' }],
      [`/nodes/node-2/jobs/${id}/park`, { token, runAt: '2030-01-01T00:00:00Z' }],
      [`/nodes/node-1/jobs/${id}/effects`, { ...record, token: 'not-the-token' }],
      [`/nodes/node-1/jobs/${id}/journal`, { token: 'not-the-token' }],
      [`/nodes/node-1/jobs/${id}/module`, { token: 'not-the-token' }],
    ] as const) {
      const answer = await call('POST', path, ADMIN, body);
      expect([path, answer.status, answer.body.error.details.reason]).toEqual([
        path,
        409,
        'lease_lost',
      ]);
    }
    expect(await store().jobJournal.entries(id)).toEqual([]);
    expect((await store().jobs.get(id))?.state).toBe('running');
  });

  it('park gives the lease back and queues the job at runAt; the old token is then refused', async () => {
    const { id, token } = await claimed();
    const runAt = new Date(Date.now() + 60_000).toISOString();
    const parked = await call('POST', `/nodes/node-1/jobs/${id}/park`, ADMIN, { token, runAt });
    expect(parked.status).toBe(200);
    expect(parked.body).toMatchObject({ state: 'queued', runAt });
    const job = await store().jobs.get(id);
    expect(job).toMatchObject({ leaseToken: null, failedAttempts: 0, lostAttempts: 0 });
    const again = await call('POST', `/nodes/node-1/jobs/${id}/journal`, ADMIN, { token });
    expect(again.status).toBe(409);
    // Not due yet: a claim takes nothing.
    const claim = await call('POST', '/nodes/node-1/jobs/claim', ADMIN, {
      tenant: 'acme',
      pool: 'workers',
      worker: 'w-1',
    });
    expect(claim.body.jobs).toEqual([]);
  });
});
