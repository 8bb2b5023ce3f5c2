import { beforeEach, expect, it } from 'vitest';
import { MAX_CLAIM_COMPLETIONS } from '../../../src/contract/jobs.ts';
import { instance, node, pool, tenant } from '../../db/fixtures.ts';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { okModuleBase64 } from './job-module-fixture.ts';
import { JOBS_ADMIN, jobsApp, type JobsApp } from './jobs-app-fixture.ts';

/** Loosely typed: the tests read fields the contract already checked. */
interface Answer {
  job: { id: string };
  jobs: Array<{ id: string; leaseToken: string; worker: string }>;
  succeeded?: string[];
  lost?: string[];
  error: { code: string; message: string };
}

const ADMIN = JOBS_ADMIN;

/**
 * The claim route's batched form (docs/jobs.md, "Batched completion"): a claim carries the
 * worker's successes since its last claim, each fenced by its own token and held by that very
 * worker, and answers which succeeded and which were lost.
 */
await describeEachDatabase('claim carrying completions', ({ store }) => {
  let app: JobsApp;

  beforeEach(async () => {
    app = await jobsApp(store());
    await store().tenants.insert(tenant('acme', 1));
    await store().pools.insert(pool('acme', 'workers'));
    await store().nodes.upsert(node('node-1'));
    await store().instances.insert(instance('w-1', 10, { nodeId: 'node-1' }));
    await store().instances.insert(instance('w-2', 11, { nodeId: 'node-1' }));
  });

  async function call(path: string, body: unknown) {
    const response = await app.request(`/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Answer };
  }

  async function submit(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const submitted = await call('/tenants/acme/jobs', {
        pool: 'workers',
        wasm: okModuleBase64,
        input: String(i),
      });
      expect(submitted.status).toBe(201);
      ids.push(submitted.body.job.id);
    }
    return ids;
  }

  const claim = (worker: string, extra: Record<string, unknown> = {}) =>
    call('/nodes/node-1/jobs/claim', { tenant: 'acme', pool: 'workers', worker, ...extra });

  const stateOf = async (id: string) => (await store().jobs.get(id))?.state;

  it('completes the last job and claims the next in one request, job after job', async () => {
    const ids = await submit(3);
    let held = (await claim('w-1')).body.jobs;
    const order = held.map((j) => j.id);
    for (let round = 0; round < 3; round += 1) {
      const [job] = held;
      if (job === undefined) throw new Error('nothing held');
      const step = await claim('w-1', {
        completed: [{ job: job.id, token: job.leaseToken, result: `{"round":${round}}` }],
      });
      expect(step.status).toBe(200);
      expect(step.body.succeeded).toEqual([job.id]);
      expect(step.body.lost).toEqual([]);
      expect(await store().jobs.get(job.id)).toMatchObject({
        state: 'succeeded',
        result: `{"round":${round}}`,
        leaseToken: null,
      });
      held = step.body.jobs;
      order.push(...held.map((j) => j.id));
    }
    // Three jobs, each claimed once, the last claim found nothing more.
    expect(held).toEqual([]);
    expect([...order].sort()).toEqual([...ids].sort());
  });

  it("a stale token, another worker's job or an expired lease is lost alone; the rest succeed", async () => {
    const [a, b, c, d] = await submit(4);
    const mine = (await claim('w-1', { limit: 2, leaseMs: 60_000 })).body.jobs;
    const theirs = (await claim('w-2', { limit: 1, leaseMs: 60_000 })).body.jobs;
    const short = (await claim('w-1', { limit: 1, leaseMs: 1000 })).body.jobs;
    expect([...mine, ...theirs, ...short].map((j) => j.id).sort()).toEqual([a, b, c, d].sort());
    const [m1, m2] = mine;
    const [other] = theirs;
    const [late] = short;
    if (!m1 || !m2 || !other || !late) throw new Error('claims came back short');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const step = await claim('w-1', {
      completed: [
        { job: m1.id, token: m1.leaseToken, result: '1' },
        { job: m2.id, token: 'not-the-token', result: '2' },
        // w-2's job with its real token: still not this worker's to complete.
        { job: other.id, token: other.leaseToken, result: '3' },
        { job: late.id, token: late.leaseToken, result: '4' },
      ],
    });
    expect(step.status).toBe(200);
    expect(step.body.succeeded).toEqual([m1.id]);
    expect(step.body.lost).toEqual([m2.id, other.id, late.id]);
    expect(await stateOf(m1.id)).toBe('succeeded');
    expect(await store().jobs.get(m2.id)).toMatchObject({ state: 'running', result: null });
    expect(await store().jobs.get(other.id)).toMatchObject({
      state: 'running',
      worker: 'node-1/w-2',
      result: null,
    });
    expect(await store().jobs.get(late.id)).toMatchObject({ state: 'running', result: null });
    // The lost ones stay with their real holders: w-2 still completes its own.
    const theirStep = await claim('w-2', {
      limit: 0,
      completed: [{ job: other.id, token: other.leaseToken, result: '3' }],
    });
    expect(theirStep.body).toEqual({ jobs: [], succeeded: [other.id], lost: [] });
  });

  it('limit 0 only completes; without completions it is refused and changes nothing', async () => {
    const [a, b] = await submit(2);
    const [held] = (await claim('w-1')).body.jobs;
    if (!held) throw new Error('nothing claimed');
    const only = await claim('w-1', {
      limit: 0,
      waitMs: 5000,
      completed: [{ job: held.id, token: held.leaseToken, result: 'null' }],
    });
    expect(only.body).toEqual({ jobs: [], succeeded: [held.id], lost: [] });
    const rest = [a, b].filter((id) => id !== held.id);
    expect(await stateOf(rest[0] ?? '')).toBe('queued');
    const empty = await claim('w-1', { limit: 0 });
    expect(empty.status).toBe(400);
    expect(await stateOf(rest[0] ?? '')).toBe('queued');
  });

  it('refuses malformed or oversized batches with 400 and writes nothing', async () => {
    const [id] = await submit(1);
    const [held] = (await claim('w-1')).body.jobs;
    if (!held || held.id !== id) throw new Error('nothing claimed');
    const entry = { job: held.id, token: held.leaseToken, result: '{}' };
    const bad: unknown[] = [
      [entry, entry],
      [{ ...entry, token: 'has space' }],
      [{ ...entry, result: 'not json' }],
      [{ ...entry, job: 'x'.repeat(300) }],
      [{ ...entry, extra: 1 }],
      Array.from({ length: MAX_CLAIM_COMPLETIONS + 1 }, (_, i) => ({ ...entry, job: `j-${i}` })),
    ];
    for (const completed of bad) {
      const refused = await claim('w-1', { limit: 1, completed });
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('invalid_argument');
    }
    expect(await store().jobs.get(held.id)).toMatchObject({ state: 'running', result: null });
  });

  it('a node completes only for an instance it runs: another node is refused 404', async () => {
    await store().nodes.upsert(node('node-2'));
    const [id] = await submit(1);
    const [held] = (await claim('w-1')).body.jobs;
    if (!held || held.id !== id) throw new Error('nothing claimed');
    const foreign = await call('/nodes/node-2/jobs/claim', {
      tenant: 'acme',
      pool: 'workers',
      worker: 'w-1',
      limit: 0,
      completed: [{ job: held.id, token: held.leaseToken, result: '{}' }],
    });
    expect(foreign.status).toBe(404);
    expect(await stateOf(held.id)).toBe('running');
  });
});
