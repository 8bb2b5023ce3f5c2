/**
 * Bring your own workload, the whole way (issue 12): a real coordinator, a real agent linked
 * to it, two real QEMU guests (TCG), and the CLI as a user types it. Three OCI images are
 * assembled offline (busybox serving port 8080 as user `app`; two layers, the second whiting
 * out /etc/a; Env GREETING and WorkingDir /app). The first is built and scaled to 2: its
 * workload runs (its output in `instance logs`), exec sees its files, Env and WorkingDir and
 * not the whited-out file. The second rolls out with a canary and every instance moves to it.
 * The third's Cmd exits at once: its canary crash-loops, and the rollout halts and turns back
 * by itself. `pool rollback --wait` then returns the pool to the first revision.
 * The image's other cases (a killed workload, a distroless image, the image drive never
 * written) are test/agent/oci-image-qemu.test.ts; each rollout step, on both stores, without
 * guests: test/coordinator/rollouts.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeOciImage } from '../support/oci-fixture.ts';
import { webImage } from '../support/oci-images.ts';
import { until } from '../support/until.ts';
import { POOL, TENANT, startRolloutWorld, type RolloutWorld } from './support/rollout-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('rollouts of OCI images in real guests');

const PATH = `${TENANT}/${POOL}`;
const MINUTES = 60_000;

describe.runIf(gate.run)('an OCI image built, rolled out, turned back and rolled back', () => {
  let dir: string;
  let world: RolloutWorld | undefined;
  const images = new Map<string, string>();
  const revisions: string[] = [];

  const w = (): RolloutWorld => {
    if (!world) throw new Error('the world did not start (see beforeAll)');
    return world;
  };
  /** Runs `script` in the instance's guest through the coordinator; its stdout. */
  const sh = async (id: string, script: string): Promise<string> => {
    const run = await w().mvm(['instance', 'exec', `${PATH}/${id}`, '--', 'sh', '-c', script]);
    expect(run.code, `exec ${script} in ${id}: ${run.stderr}`).toBe(0);
    return run.stdout.toString();
  };
  /** Both instances running, each reported on `revision` (the story on a timeout). */
  const allOn = async (revision: string): Promise<string[]> => {
    try {
      return await until(
        `both instances running on ${revision.slice(0, 12)}`,
        async () => {
          const list = await w().instances();
          const on = list.filter((i) => i.status === 'running' && i.revision === revision);
          return list.length === 2 && on.length === 2 ? list.map((i) => i.id) : undefined;
        },
        10 * MINUTES,
        1_000,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await w().story()}`);
    }
  };
  /** The REVISION column of `mvm instance list`, one per instance. */
  const listedRevisions = async (): Promise<string[]> => {
    const table = await w().ok(['instance', 'list', '--tenant', TENANT]);
    return table
      .split('\n')
      .filter((line) => line.startsWith(`${PATH}/`))
      .map((line) => line.trim().split(/\s+/).at(-1) ?? '');
  };
  /** The greeting each guest's workload Env carries, by instance. */
  const greetings = async (ids: readonly string[]): Promise<string[]> =>
    Promise.all(ids.map(async (id) => (await sh(id, 'echo "$GREETING"')).trim()));
  const rollout = async (revision: string) =>
    w().mvm([
      ...['pool', 'rollout', PATH, '--revision', revision],
      ...['--canary', '1', '--wait', '--timeout', '15m'],
    ]);
  const useImage = (name: string) =>
    w().ok(['pool', 'update', PATH, '--image', `oci:${images.get(name) ?? '?'}:web`]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-e2e-roll-'));
    const variants = {
      one: await webImage({ greeting: 'one' }),
      two: await webImage({ greeting: 'two' }),
      broken: await webImage({ cmd: ['/bin/false'] }),
    };
    for (const [name, image] of Object.entries(variants)) {
      images.set(name, (await writeOciImage(join(dir, 'images', name), image)).dir);
    }
    world = await startRolloutWorld(dir);
    await w().ok(['tenant', 'create', TENANT, '--net-id', '51']);
    await w().ok([
      ...['pool', 'create', PATH, '--image', `oci:${images.get('one') ?? '?'}:web`],
      ...['--cpus', '1', '--mem', '256', '--data-disk', '16'],
    ]);
  }, 5 * MINUTES);

  afterAll(async () => {
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'builds the first image and runs it on 2 instances: workload, logs, files, Env',
    async () => {
      revisions.push(await w().build());
      const [one = ''] = revisions;
      await w().ok(['pool', 'update', PATH, '--revision', one]);
      await w().ok(['pool', 'scale', PATH, '--running', '2']);
      const ids = await allOn(one);
      expect(await listedRevisions()).toEqual([one.slice(0, 12), one.slice(0, 12)]);
      for (const id of ids) {
        // The workload serves its port (it may still be starting when the guest is ready).
        const page = await until(
          `${id} serving port 8080`,
          async () => {
            const run = await w().mvm([
              'instance',
              'exec',
              `${PATH}/${id}`,
              '--',
              'wget',
              '-qO-',
              'http://127.0.0.1:8080/',
            ]);
            return run.code === 0 ? run.stdout.toString() : undefined;
          },
          2 * MINUTES,
          1_000,
        );
        expect(page).toBe('served by the image\n');
        const logs = await w().ok(['instance', 'logs', `${PATH}/${id}`]);
        expect(logs).toContain('workload up: one from /app as 1000\n');
        expect(await sh(id, 'echo "$GREETING"; pwd; cat message /etc/b')).toBe(
          'one\n/app\nfrom the image\nb\n',
        );
        expect(await sh(id, 'test -e /etc/a; echo $?')).toBe('1\n');
      }
    },
    20 * MINUTES,
  );

  it(
    'rolls the second image out, canary first: every instance moves to it',
    async () => {
      await useImage('two');
      revisions.push(await w().build());
      const [one = '', two = ''] = revisions;
      const run = await rollout(two);
      expect(run.code, `${run.stderr}\n${await w().story()}`).toBe(0);
      expect(run.stdout.toString()).toContain('(canary)');
      const ids = await allOn(two);
      expect(await listedRevisions()).toEqual([two.slice(0, 12), two.slice(0, 12)]);
      expect(await greetings(ids)).toEqual(['two', 'two']);
      const pool = await w().api.call('getPool', { params: { tenant: TENANT, pool: POOL } });
      expect(pool.revision).toBe(two);
      expect(pool.rollout).toMatchObject({ state: 'done', from: one, to: two, previous: null });
    },
    20 * MINUTES,
  );

  it(
    'a broken third image halts the rollout and turns it back by itself',
    async () => {
      await useImage('broken');
      revisions.push(await w().build());
      const [, two = '', broken = ''] = revisions;
      const boots = async () =>
        Promise.all(
          (await w().instances()).map(async (i) => sh(i.id, 'cat /proc/sys/kernel/random/boot_id')),
        );
      const before = await boots();
      const run = await rollout(broken);
      const story = await w().story();
      // --wait fails: the rollout ended rolled back, and says why.
      expect(run.code, `${run.stderr}\n${story}`).not.toBe(0);
      expect(run.stderr, story).toMatch(/ended rolled-back: \S+: its workload restarted \d+ times/);
      const pool = await w().api.call('getPool', { params: { tenant: TENANT, pool: POOL } });
      expect(pool.revision, story).toBe(two);
      expect(pool.rollout, story).toMatchObject({ state: 'rolled-back', from: two, to: broken });
      expect(pool.rollout?.reason, story).toMatch(/crash loop/);
      const ids = await allOn(two);
      expect(await listedRevisions()).toEqual([two.slice(0, 12), two.slice(0, 12)]);
      expect(await greetings(ids)).toEqual(['two', 'two']);
      const events = await w().api.call('listEvents', { query: { tenant: TENANT, last: 50 } });
      const trail = events.filter((e) => e.action.startsWith('rollout.')).reverse();
      const last = trail.slice(trail.findLastIndex((e) => e.action === 'rollout.started'));
      expect(
        last.map((e) => e.action),
        story,
      ).toEqual(
        expect.arrayContaining([
          'rollout.canary-failed',
          'rollout.rolling-back',
          'rollout.rolled-back',
        ]),
      );
      const failed = last.find((e) => e.action === 'rollout.canary-failed');
      expect(String(failed?.detail['reason']), story).toMatch(/crash loop/);
      // Only the canary was replaced (twice: onto the broken image and back); the other ran on.
      const after = await boots();
      expect(
        after.filter((boot, n) => boot !== before[n]),
        story,
      ).toHaveLength(1);
    },
    20 * MINUTES,
  );

  it(
    'pool rollback --wait returns every instance to the first revision',
    async () => {
      const [one = '', two = ''] = revisions;
      const run = await w().mvm(['pool', 'rollback', PATH, '--wait', '--timeout', '15m']);
      expect(run.code, `${run.stderr}\n${await w().story()}`).toBe(0);
      const ids = await allOn(one);
      expect(await listedRevisions()).toEqual([one.slice(0, 12), one.slice(0, 12)]);
      expect(await greetings(ids)).toEqual(['one', 'one']);
      const pool = await w().api.call('getPool', { params: { tenant: TENANT, pool: POOL } });
      expect(pool.revision).toBe(one);
      expect(pool.rollout).toMatchObject({ state: 'rolled-back', from: one, to: two });
    },
    20 * MINUTES,
  );
});
