import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { faultPoints } from '../../src/executor/faults.ts';
import { until } from '../support/until.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { callsModule, type Call } from './job-modules.ts';
import {
  bundleExecutor,
  CounterServer,
  removeBundle,
  startCoordinator,
  startExecutor,
} from './executor-world.ts';

let bundle: { main: string; dir: string };
beforeAll(async () => {
  bundle = await bundleExecutor();
}, 60_000);
afterAll(async () => {
  await removeBundle(bundle.dir);
});

/** The contract's job: a POST, a KV write (key per pool), another POST. */
function program(counter: string, tag: string, idempotent = true): Call[] {
  const post = (path: string) =>
    JSON.stringify({ url: `${counter}${path}`, method: 'POST', body: 'x', idempotent });
  return [
    ['http_fetch', post(`/${tag}/a`)],
    ['kv_set', JSON.stringify({ key: tag, value: 'one' })],
    ['http_fetch', post(`/${tag}/b`)],
  ];
}

interface Case {
  pool: string;
  point: string;
  seq: number;
  idempotent: boolean;
}

const cases: Case[] = [
  ...faultPoints.flatMap((point, p) =>
    [0, 1, 2].map((seq) => ({ pool: `p${p}${seq}`, point, seq, idempotent: true })),
  ),
  { pool: 'plain-sent', point: 'after_response', seq: 0, idempotent: false },
  { pool: 'plain-recorded', point: 'after_record', seq: 0, idempotent: false },
];

await describeEachDatabase('executor exactly-once', ({ store, url }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  const counter = new CounterServer();

  beforeEach(async () => {
    await counter.start();
    coordinator = await startCoordinator(store(), [
      'workers',
      'fence',
      'det',
      ...['s0', 's1', 's2', 's3', 's4', 's5'],
      ...cases.map((c) => c.pool),
    ]);
  });
  afterEach(async () => {
    await coordinator.close();
    await counter.stop();
    counter.hits.clear();
    counter.keys.clear();
  });

  async function finishedJob(id: string, key: string) {
    const job = await store().jobs.get(id);
    const entries = await store().jobJournal.entries(id);
    const kv = await store().jobJournal.kvGet('acme', key);
    return { job, entries, kv };
  }

  it('runs a job through the journal once, with keys on idempotent writes', async () => {
    const id = await coordinator.submit(callsModule(program(counter.url, 'one')));
    const run = await startExecutor(bundle.main, coordinator.url).exited;
    expect(run.code, run.output).toBe(0);
    const { job, entries, kv } = await finishedJob(id, 'one');
    expect(job?.state, run.output).toBe('succeeded');
    expect(job?.result).toBe('{"status":200,"body":"{\\"path\\":\\"/one/b\\"}"}');
    expect(entries.map((e) => [e.seq, e.op, e.state])).toEqual([
      [0, 'http_fetch', 'completed'],
      [1, 'kv_set', 'completed'],
      [2, 'http_fetch', 'completed'],
    ]);
    expect(counter.count('/one/a')).toEqual({ hits: 1, keys: 1 });
    expect(counter.keys.get('/one/a')).toEqual(new Set([`${id}:0`]));
    expect(counter.count('/one/b')).toEqual({ hits: 1, keys: 1 });
    expect(kv).toEqual({ value: 'one', version: 1 });
  }, 60_000);

  it('kill -9 at every point around every effect: a second executor finishes as the contract says', async () => {
    const one = async (c: Case) => {
      const id = await coordinator.submit(
        callsModule(program(counter.url, c.pool, c.idempotent)),
        c.pool,
      );
      const fault = `${c.point}:${c.seq}`;
      const first = await startExecutor(bundle.main, coordinator.url, { pool: c.pool, fault })
        .exited;
      const second = await startExecutor(bundle.main, coordinator.url, { pool: c.pool, n: 2 })
        .exited;
      return { c, id, first, second };
    };
    // A few cases at a time: two dozen Node processes at once starve a loaded 2-core host.
    const done = [];
    for (let i = 0; i < cases.length; i += 3) {
      done.push(...(await Promise.all(cases.slice(i, i + 3).map(one))));
    }
    for (const { c, id, first, second } of done) {
      const label = `${c.pool} ${c.point}:${c.seq} idempotent=${c.idempotent}\n${first.output}\n${second.output}`;
      expect(first.signal, label).toBe('SIGKILL');
      expect(second.code, label).toBe(0);
      const { job, entries, kv } = await finishedJob(id, c.pool);
      const a = counter.count(`/${c.pool}/a`);
      const b = counter.count(`/${c.pool}/b`);
      if (!c.idempotent && c.point === 'after_response') {
        // Sent, outcome unknown, not idempotent: never sent again, the job fails.
        expect(job?.state, label).toBe('failed');
        expect(job?.errorCode, label).toBe('effect_interrupted');
        expect([a.hits, b.hits, kv], label).toEqual([1, 0, undefined]);
        continue;
      }
      expect(job?.state, label).toBe('succeeded');
      expect(
        entries.map((e) => e.state),
        label,
      ).toEqual(['completed', 'completed', 'completed']);
      // The in-doubt write is sent again with the same key; nothing else is ever repeated.
      const again = (seq: number) => (c.point === 'after_response' && c.seq === seq ? 2 : 1);
      expect(a, label).toEqual({ hits: again(0), keys: c.idempotent ? 1 : 0 });
      expect(b, label).toEqual({ hits: again(2), keys: c.idempotent ? 1 : 0 });
      expect(kv, label).toEqual({ value: 'one', version: 1 });
    }
  }, 300_000);

  it('a worker stopped past its lease makes no further effect once another finished the job', async () => {
    const id = await coordinator.submit(
      callsModule([
        [
          'http_fetch',
          JSON.stringify({ url: `${counter.url}/slow/a`, method: 'POST', idempotent: true }),
        ],
        ['kv_set', JSON.stringify({ key: 'fence', value: 'one' })],
        [
          'http_fetch',
          JSON.stringify({ url: `${counter.url}/fence/b`, method: 'POST', idempotent: true }),
        ],
      ]),
      'fence',
    );
    const stale = startExecutor(bundle.main, coordinator.url, { pool: 'fence' });
    await until(
      'the first call in flight',
      () => counter.count('/slow/a').hits > 0 || undefined,
      60_000,
    );
    stale.child.kill('SIGSTOP');
    try {
      const other = await startExecutor(bundle.main, coordinator.url, { pool: 'fence', n: 2 })
        .exited;
      expect(other.code, other.output).toBe(0);
      expect((await store().jobs.get(id))?.state).toBe('succeeded');
    } finally {
      stale.child.kill('SIGCONT');
    }
    const end = await stale.exited;
    expect(end.output).toContain('"result":"lost"');
    expect(counter.count('/fence/b')).toEqual({ hits: 1, keys: 1 });
    expect(counter.count('/slow/a').keys).toBe(1);
    expect(await store().jobJournal.kvGet('acme', 'fence')).toEqual({ value: 'one', version: 1 });
  }, 120_000);

  it('a module that diverges on replay fails nondeterministic at the diverging call', async () => {
    const before: Call[] = [
      ['log', '{"message":"start"}'],
      ['now', '{}'],
      ['http_fetch', JSON.stringify({ url: `${counter.url}/det/a` })],
    ];
    const id = await coordinator.submit(callsModule(before), 'det');
    const first = await startExecutor(bundle.main, coordinator.url, {
      pool: 'det',
      fault: 'after_complete:1',
    }).exited;
    expect(first.signal).toBe('SIGKILL');
    // Test-only: the stored module changes under the job (a real module cannot change: it is
    // pinned by hash), standing for a module whose path depends on something not journaled.
    const after = callsModule([
      ['log', '{"message":"start"}'],
      ['random', '{}'],
    ]);
    const { db } = openDatabase(url());
    try {
      await db
        .updateTable('job_modules')
        .set({ bytes: Buffer.from(after) })
        .execute();
    } finally {
      await db.destroy();
    }
    const second = await startExecutor(bundle.main, coordinator.url, { pool: 'det', n: 2 }).exited;
    expect(second.code, second.output).toBe(0);
    const job = await store().jobs.get(id);
    expect(job?.state).toBe('failed');
    expect(job?.errorCode).toBe('nondeterministic');
    expect(job?.error).toMatch(
      /^call 1 diverged on replay: recorded now sha256:[0-9a-f]{16}, now random sha256:/,
    );
    expect(counter.count('/det/a').hits).toBe(0);
  }, 120_000);

  it('sleep parks the job and frees the worker; the job carries on after the wake time', async () => {
    const id = await coordinator.submit(
      callsModule([
        ['sleep', '{"ms":1500}'],
        ['now', '{}'],
      ]),
    );
    const run = await startExecutor(bundle.main, coordinator.url, { maxJobs: 2 }).exited;
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('"result":"parked"');
    const job = await store().jobs.get(id);
    expect(job).toMatchObject({
      state: 'succeeded',
      attempts: 2,
      failedAttempts: 0,
      lostAttempts: 0,
    });
    const entries = await store().jobJournal.entries(id);
    expect(entries.map((e) => [e.op, e.state, e.attempt])).toEqual([
      ['sleep', 'completed', 1],
      ['now', 'completed', 2],
    ]);
    const wakeAt = String((JSON.parse(entries[0]?.response ?? '{}') as { wakeAt?: string }).wakeAt);
    expect(Date.parse(entries[1]?.completedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(wakeAt));
  }, 120_000);

  it('a randomised soak of kills keeps the contract', async () => {
    const soak = ['s0', 's1', 's2', 's3', 's4', 's5'];
    const one = async (poolId: string) => {
      const id = await coordinator.submit(callsModule(program(counter.url, poolId)), poolId);
      // Kill somewhere in the first run: from before its claim to after its last effect.
      const first = startExecutor(bundle.main, coordinator.url, { pool: poolId });
      const killer = setTimeout(() => first.child.kill('SIGKILL'), 200 + Math.random() * 2500);
      await first.exited;
      clearTimeout(killer);
      const second = await startExecutor(bundle.main, coordinator.url, { pool: poolId, n: 2 })
        .exited;
      return { poolId, id, output: second.output };
    };
    const done = [];
    for (let i = 0; i < soak.length; i += 3) {
      done.push(...(await Promise.all(soak.slice(i, i + 3).map(one))));
    }
    for (const { poolId, id, output } of done) {
      const { job, kv } = await finishedJob(id, poolId);
      expect(job?.state, output).toBe('succeeded');
      for (const path of [`/${poolId}/a`, `/${poolId}/b`]) {
        const { hits, keys } = counter.count(path);
        expect(keys, path).toBe(1);
        expect(hits, path).toBeGreaterThanOrEqual(1);
        expect(hits, path).toBeLessThanOrEqual(2);
      }
      expect(kv).toEqual({ value: 'one', version: 1 });
    }
  }, 300_000);
});
