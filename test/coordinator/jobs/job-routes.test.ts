import { beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { okModuleBase64 } from './job-module-fixture.ts';
import { callJobs, JOBS_ADMIN, seededJobsApp, type JobsApp } from './jobs-app-fixture.ts';

/** Loosely typed: the tests read fields the contract already checked. */
interface Answer {
  token?: string;
  job: { id: string };
  jobs: Array<{ id: string; leaseToken: string }>;
  error: { details: { reason: string } };
}

const ADMIN = JOBS_ADMIN;

await describeEachDatabase('job routes', ({ store }) => {
  let app: JobsApp;
  let tokens: Record<'acme' | 'beta', string>;

  beforeEach(async () => {
    ({ app, tokens } = await seededJobsApp(store()));
  });

  const call = (method: string, path: string, token: string, body?: unknown) =>
    callJobs<Answer>(app, method, path, token, body);

  it('a tenant token sees only its own jobs', async () => {
    const mine = await call('POST', '/tenants/acme/jobs', tokens.acme, {
      pool: 'workers',
      wasm: okModuleBase64,
    });
    expect(mine.status).toBe(201);
    const id = String(mine.body.job.id);
    expect((await call('GET', `/tenants/acme/jobs/${id}`, tokens.acme)).status).toBe(200);
    // beta's token on acme's path: acme does not exist for it; on its own path: no such job.
    expect((await call('GET', `/tenants/acme/jobs/${id}`, tokens.beta)).status).toBe(404);
    expect((await call('GET', `/tenants/beta/jobs/${id}`, tokens.beta)).status).toBe(404);
    expect((await call('POST', `/tenants/beta/jobs/${id}/cancel`, tokens.beta)).status).toBe(404);
    expect((await call('GET', '/tenants/beta/jobs', tokens.beta)).body).toEqual([]);
    expect((await store().jobs.get(id))?.state).toBe('queued');
  });

  it('a worker claims, heartbeats and completes through the node routes; a stale token gets 409', async () => {
    const submitted = await call('POST', '/tenants/acme/jobs', ADMIN, {
      pool: 'workers',
      wasm: okModuleBase64,
      input: '{"n":2}',
    });
    const id = String(submitted.body.job.id);
    const claimed = await call('POST', '/nodes/node-1/jobs/claim', ADMIN, {
      tenant: 'acme',
      pool: 'workers',
      worker: 'w-1',
      limit: 5,
    });
    expect(claimed.status).toBe(200);
    expect(claimed.body.jobs).toHaveLength(1);
    const token = String(claimed.body.jobs[0]?.leaseToken);
    expect(claimed.body.jobs[0]).toMatchObject({ id, state: 'running', worker: 'node-1/w-1' });
    const beat = await call('POST', `/nodes/node-1/jobs/${id}/heartbeat`, ADMIN, { token });
    expect(beat.status).toBe(200);
    const stale = await call('POST', `/nodes/node-1/jobs/${id}/complete`, ADMIN, {
      outcome: 'succeeded',
      token: 'someone-elses',
      result: '{}',
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.details.reason).toBe('lease_lost');
    const done = await call('POST', `/nodes/node-1/jobs/${id}/complete`, ADMIN, {
      outcome: 'succeeded',
      token,
      result: '{"sum":3}',
    });
    expect(done.body).toMatchObject({ state: 'succeeded', result: '{"sum":3}' });
    const again = await call('POST', `/nodes/node-1/jobs/${id}/heartbeat`, ADMIN, { token });
    expect(again.status).toBe(409);
  });

  it('refuses a bad module with a 400 naming the problem and stores nothing', async () => {
    const refused = await call('POST', '/tenants/acme/jobs', ADMIN, {
      pool: 'workers',
      wasm: Buffer.from('not wasm').toString('base64'),
    });
    expect(refused.status).toBe(400);
    expect(await store().jobs.list({ limit: 10 })).toEqual([]);
  });
});
