/**
 * A wake the node admitted itself while the coordinator did not answer outlives a kill -9 of
 * the agent before its report: the admitter runs as a REAL separate process
 * (wake-admitter-process.ts, wired as the agent wires it over its data dir), admits the wake
 * while the coordinator's port is closed, is killed with SIGKILL, and a new process on the
 * same data dir reports it once the coordinator listens again: the store says running, the
 * audit names `admittedBy: node`, and the journal is empty. A real coordinator over HTTP on
 * each store.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, expect, it } from 'vitest';
import {
  unreportedWakesFile,
  unreportedWakesPath,
} from '../../src/agent/wake/unreported-wakes-file.ts';
import { createCoordinatorApp } from '../../src/coordinator/app.ts';
import type { Services } from '../../src/coordinator/services/index.ts';
import type { Instance } from '../../src/core/model.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { Store } from '../../src/ports/store.ts';
import { admin, plainWebTenant } from '../coordinator/support/policy-harness.ts';
import { node } from '../db/fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { reopenableServer } from '../support/reopenable-server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = `file://${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}`;
const SCRIPT = join(import.meta.dirname, 'wake-admitter-process.ts');
const ADMIN = 'wake-restart-admin-token-0123456789';
const NODE = 'node-1';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The coordinator over real HTTP on a loopback port that can be closed and opened again. */
async function httpCoordinator(store: Store) {
  let n = 0;
  const { app, services } = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => `r${(n += 1)}`,
  });
  await services.adminToken.adopt({ secret: ADMIN, home: { kind: 'configured' }, source: 'test' });
  closers.push(async () => {
    services.jobs.close();
    await services.rechecks.close();
  });
  const server = reopenableServer((r) => app.fetch(r));
  await server.start();
  closers.push(server.stop);
  return { services, ...server };
}

/** One admitter process; its stdout lines, awaited one by one. */
function admitterProcess(args: readonly string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', TSX_LOADER, SCRIPT, ...args],
    { stdio: 'pipe' },
  );
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  closers.push(kill);
  const lines: string[] = [];
  const log: string[] = [];
  let waiter: (() => void) | undefined;
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    waiter?.();
  });
  createInterface({ input: child.stderr }).on('line', (l) => log.push(l));
  const next = async (prefix: string, timeoutMs = 60_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return found.slice(prefix.length).trim();
      if (Date.now() > deadline) {
        throw new Error(`no "${prefix}" from the admitter; its log:\n${log.join('\n')}`);
      }
      await new Promise<void>((done) => {
        waiter = done;
        setTimeout(done, 100);
      });
    }
  };
  return { next, kill };
}

async function journal(dataDir: string): Promise<unknown[]> {
  const text = await readFile(unreportedWakesPath(dataDir), 'utf8');
  return (JSON.parse(text) as { wakes: unknown[] }).wakes;
}

async function sleeper(services: Services, store: Store): Promise<Instance> {
  await store.nodes.upsert(node(NODE, { capacity: { vcpus: 2, memMib: 65536, diskGib: 100 } }));
  await plainWebTenant(services, 'acme');
  const [made] = (await services.pools.scale(admin, 'acme', 'web', { running: 1 })).created;
  if (!made) throw new Error('the scale made no instance');
  await services.pools.scale(admin, 'acme', 'web', { running: 0, sleeping: 1 });
  // Put to sleep two minutes ago: a scale down stamps its lowering, and the wakes these cases
  // admit (up to a minute ago) come after it.
  const key = { tenantId: 'acme', poolId: 'web', instanceId: made.id };
  const slept = (await store.instances.get(key))!;
  const twoMinutesAgo = new Date(Date.now() - 120_000).toISOString();
  await store.instances.update(key, { loweredAt: twoMinutesAgo }, slept.version, twoMinutesAgo);
  return made;
}

/** The agent's record of the sleeping instance, as the admitter process is handed it. */
function sleepingRecord(instance: Instance) {
  return {
    key: `acme-web-${instance.id}`,
    tenantId: 'acme',
    poolId: 'web',
    instanceId: instance.id,
    status: 'sleeping',
    spec: { vcpus: 1, memMib: 256 },
  };
}

/** A coordinator over HTTP with one sleeping instance, and an empty data dir for the agent. */
async function sleepingWorld(store: Store) {
  const coordinator = await httpCoordinator(store);
  const instance = await sleeper(coordinator.services, store);
  const key = { tenantId: 'acme', poolId: 'web', instanceId: instance.id };
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-wake-restart-'));
  closers.push(() => rm(dataDir, { recursive: true, force: true }));
  return { store, coordinator, key, dataDir, record: sleepingRecord(instance) };
}

await describeEachDatabase('a local wake outlives a kill -9 before its report', (db) => {
  it('is kept in the data dir and reported by the restarted agent once the coordinator answers', async () => {
    const { store, coordinator, key, dataDir, record } = await sleepingWorld(db.store());
    const args = [dataDir, coordinator.url(), ADMIN, NODE, JSON.stringify(record)];
    await coordinator.stop();

    const first = admitterProcess([...args, 'admit']);
    expect(JSON.parse(await first.next('up '))).toEqual({ restored: 0 });
    expect(JSON.parse(await first.next('admitted '))).toEqual({ admitted: true });
    expect(await journal(dataDir)).toHaveLength(1);
    await first.kill();
    expect((await store.instances.get(key))?.desiredStatus).toBe('sleeping');

    await coordinator.start();
    const second = admitterProcess(args);
    expect(JSON.parse(await second.next('up '))).toEqual({ restored: 1 });
    await second.next('reported', 30_000);
    expect(await store.instances.get(key)).toMatchObject({
      desiredStatus: 'running',
      pressureSleptAt: null,
    });
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      to: 'running',
      admittedBy: 'node',
    });
    // Answered, it leaves the journal (written just after the report's answer).
    const deadline = Date.now() + 10_000;
    while ((await journal(dataDir)).length > 0 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(await journal(dataDir)).toEqual([]);
    await second.kill();
  });

  it('a kept wake the coordinator answered and lowered since is not raised again by the restarted agent', async () => {
    const { store, coordinator, key, dataDir, record } = await sleepingWorld(db.store());
    // The agent admitted it a minute ago and reported it; the coordinator answered (running),
    // and the agent was killed before it noted the answer: the wake is still in its file.
    const admittedAt = new Date(Date.now() - 60_000).toISOString();
    const ask = { port: 80, from: '10.0.0.9', source: 'tenant' } as const;
    await coordinator.services.instances.reportWake(NODE, key, {
      trigger: 'connect',
      ...ask,
      admittedBy: 'node',
      admittedMsAgo: 59_000,
    });
    // Lowered since (its node over its capacity): held asleep in its place.
    const running = (await store.instances.get(key))!;
    expect(running.desiredStatus).toBe('running');
    const loweredAt = new Date(Date.now() - 30_000).toISOString();
    await store.instances.update(
      key,
      {
        desiredStatus: 'sleeping',
        pressureSleptAt: loweredAt,
        idleSlot: 'running',
        sleepForced: true,
      },
      running.version,
      loweredAt,
    );
    await mkdir(join(dataDir, 'wake'), { recursive: true });
    await unreportedWakesFile(unreportedWakesPath(dataDir), {} as Logger).save([
      { ref: key, ask, holder: { key: record.key, vcpus: 1, memMib: 256 }, admittedAt },
    ]);

    const args = [dataDir, coordinator.url(), ADMIN, NODE, JSON.stringify(record)];
    const restarted = admitterProcess(args);
    expect(JSON.parse(await restarted.next('up '))).toEqual({ restored: 1 });
    await restarted.next('reported', 30_000);
    // Answered as it stands: the lowering stands (raised again, another would be lowered).
    expect(await store.instances.get(key)).toMatchObject({
      desiredStatus: 'sleeping',
      pressureSleptAt: loweredAt,
    });
    const events = await store.audit.list({ tenantId: 'acme', limit: 50 });
    expect(events.find((e) => e.action === 'instance.wake-on-connect')?.detail).toMatchObject({
      to: 'sleeping',
      admittedBy: 'node',
      loweredSince: loweredAt,
    });
    await restarted.kill();
  });
});
