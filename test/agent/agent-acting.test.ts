/**
 * The agent loop acts on a verified document once its mark is durable, while the document is
 * written: against a real coordinator (SQLite, HTTP), with the real document and mark files,
 * and a runtime of in-memory records (memory-runtime.ts) that outlives each loop as a host's
 * records outlive its agent. The document's writes go through a store whose `save` a test
 * holds or fails.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import { DesiredMarkFile } from '../../src/agent/desired/desired-mark-file.ts';
import { runAgentLoop } from '../../src/agent/reconcile/agent-loop.ts';
import type { StoredEnvelope } from '../../src/contract/desired.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { serveTestCoordinator, type TestCoordinator } from '../support/served-coordinator.ts';
import { until } from '../support/until.ts';
import { MemoryRuntime } from './memory-runtime.ts';

type LogLine = Record<string, unknown> & { msg: string };

/** A DesiredFileStore whose writes a test holds (until released) or fails, by generation. */
class HookedStore extends DesiredFileStore {
  /** Decides each write before it goes to the file: 'write', a pending promise, or an error. */
  gate: (generation: number) => Promise<void> | void = () => undefined;
  readonly saves: number[] = [];

  override async save(envelope: StoredEnvelope): Promise<void> {
    const generation = generationOf(envelope);
    this.saves.push(generation);
    await this.gate(generation);
    await super.save(envelope);
  }
}

function generationOf(envelope: StoredEnvelope): number {
  const head = 'payload' in envelope ? envelope.payload : envelope.manifest.head;
  return Number(/"generation":(\d+)/.exec(head)?.[1]);
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('the agent acts before its document is on disk', () => {
  const dirs: string[] = [];
  let coordinator: TestCoordinator;
  let api: ApiClient;
  let trusted: string;

  const coordinators: TestCoordinator[] = [];

  afterAll(async () => {
    for (const c of coordinators) await c.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `mvm-acting-${label}-`));
    dirs.push(dir);
    return dir;
  }

  /** A coordinator of its own with one node, tenant and pool: the test's documents. */
  async function freshNode(): Promise<{ node: string; scale: (running: number) => Promise<void> }> {
    coordinator = await serveTestCoordinator({
      prefix: 'mvm-acting-c-',
      nodeLostAfterMs: 3_600_000,
    });
    coordinators.push(coordinator);
    api = coordinator.api;
    trusted = (await api.call('getSigningKey', {})).publicKeyPem;
    const node = 'node-act';
    await api.call('registerNode', {
      params: { node },
      body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
    });
    await api.call('createTenant', { body: { id: 'act', netId: 221 } });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await api.call('createPool', { params: { tenant: 'act' }, body: pool });
    const scale = async (running: number) => {
      await api.call('scalePool', { params: { tenant: 'act', pool: 'web' }, body: { running } });
    };
    return { node, scale };
  }

  /** One agent loop on `dataDir`, as coordinator-link starts it (a mark file beside). */
  async function startLoop(
    node: string,
    dataDir: string,
    runtime: MemoryRuntime,
    store: DesiredFileStore,
    loopApi: Pick<ApiClient, 'call'> = api,
  ) {
    const logs: LogLine[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => logs.push(JSON.parse(l)) });
    const passes: number[] = [];
    const abort = new AbortController();
    const marks = await DesiredMarkFile.open(join(dataDir, 'desired-mark.json'));
    const done = runAgentLoop({
      api: loopApi,
      nodeId: node,
      trustedKeys: [trusted],
      production: true,
      runtime: runtime.asRuntime,
      store,
      marks,
      clock: systemClock,
      logger,
      signal: abort.signal,
      resyncMs: 3_600_000,
      onPass: (generation) => passes.push(generation),
    });
    const passed = (generation: number) =>
      until(`a pass on generation ${generation}`, () =>
        passes.includes(generation) ? true : undefined,
      );
    const stop = async () => {
      abort.abort();
      await done;
    };
    return { logs, passes, passed, stop, marks };
  }

  async function generationNow(node: string): Promise<number> {
    const answer = await api.call('watchNodeDesired', {
      params: { node },
      query: { after: 0, waitMs: 0 },
    });
    return JSON.parse((answer as { payload: string }).payload).generation as number;
  }

  it('starts the pass while the document write is held', async () => {
    const { node, scale } = await freshNode();
    const dataDir = await tempDir('held');
    const runtime = new MemoryRuntime();
    const store = new HookedStore(join(dataDir, 'desired.json'));
    const held = deferred();
    const order: string[] = [];
    store.gate = () => {
      order.push('save called');
      return held.promise.then(() => void order.push('save released'));
    };
    const acted = deferred();
    runtime.onRun = () => {
      order.push('acting');
      acted.resolve();
    };
    await scale(1);
    const loop = await startLoop(node, dataDir, runtime, store);
    try {
      await acted.promise; // never resolves when acting waits for the save
      held.resolve();
      const generation = await generationNow(node);
      await loop.passed(generation);
      await until('the document on disk', async () =>
        (await store.load()) !== undefined ? true : undefined,
      );
      expect(order.slice(0, 1)).toEqual(['acting']);
      expect(order).toContain('save released');
      expect(loop.marks.current.generation).toBe(generation);
    } finally {
      held.resolve();
      await loop.stop();
    }
  }, 20_000);

  it('after a crash between acting and the write, the restart destroys nothing the newer document made, and converges', async () => {
    const { node, scale } = await freshNode();
    const dataDir = await tempDir('crash');
    const runtime = new MemoryRuntime();
    const path = join(dataDir, 'desired.json');
    const store = new HookedStore(path);
    await scale(1);
    const first = await startLoop(node, dataDir, runtime, store);
    const older = await generationNow(node);
    await first.passed(older);
    await until('the older document on disk', async () => {
      const saved = await store.load();
      return saved && generationOf(saved) === older ? true : undefined;
    });
    const onDisk = await readFile(join(dataDir, 'desired.json'), 'utf8');

    // The newer document's write never lands: the process dies with it in flight.
    const killed = deferred();
    store.gate = (generation) => (generation > older ? killed.promise : undefined);
    const created = deferred();
    runtime.onRun = (call) => {
      if (call.kinds.includes('put') && runtime.records.size === 1) created.resolve();
    };
    await scale(2);
    await created.promise;
    const newer = await generationNow(node);
    await first.passed(newer);
    const made = [...runtime.records.values()].map(
      (r) => `${r.tenantId}/${r.poolId}/${r.instanceId}`,
    );
    expect(made).toHaveLength(2);
    // Killed here: the files as they are now are what the restart finds (nothing the torn-down
    // loop still writes counts).
    const files = ['desired.json', 'desired-mark.json'].map((f) => join(dataDir, f));
    const atKill = await Promise.all(files.map((f) => readFile(f, 'utf8')));
    const stopping = first.stop();
    killed.reject(new Error('killed before the write reached the disk'));
    await stopping;
    await Promise.all(files.map((f, i) => writeFile(f, atKill[i] ?? '')));
    // The older document, and the mark of the newer one.
    expect(await readFile(join(dataDir, 'desired.json'), 'utf8')).toBe(onDisk);
    expect(JSON.parse(await readFile(join(dataDir, 'desired-mark.json'), 'utf8')).generation).toBe(
      newer,
    );
    runtime.onRun = undefined;
    const before = runtime.runs.length;

    // Restarted with the coordinator unreachable: nothing acts, nothing is destroyed.
    const unreachable = createApiClient({
      baseUrl: coordinator.url,
      token: 'x',
      fetch: () => Promise.reject(new Error('coordinator unreachable')),
    });
    const away = await startLoop(node, dataDir, runtime, new DesiredFileStore(path), unreachable);
    await until('the saved document refused and a watch tried', () =>
      away.logs.some((l) => l.msg === 'desired watch') ? true : undefined,
    );
    await away.stop();
    for (const instance of made) expect(runtime.destroys(instance)).toEqual([]);
    expect(runtime.runs.length).toBe(before);
    expect(away.passes).toEqual([]);
    const refused = away.logs.find((l) => l.msg.startsWith('saved desired document refused'));
    expect(refused).toMatchObject({ refused: 'replay' });

    // Restarted with the coordinator back: the newer generation (or a later one) converges.
    const again = await startLoop(node, dataDir, runtime, new DesiredFileStore(path));
    try {
      await again.passed(newer);
      expect(again.passes[0]).toBe(newer);
      for (const instance of made) expect(runtime.destroys(instance)).toEqual([]);
      expect([...runtime.records.values()].map((r) => r.status)).toEqual(['running', 'running']);
      await until('the newer document on disk', async () => {
        const saved = await new DesiredFileStore(path).load();
        return saved && generationOf(saved) === newer ? true : undefined;
      });
    } finally {
      await again.stop();
    }
  }, 20_000);

  it('plans while the mark is written, and acts on nothing before it is durable', async () => {
    const { node, scale } = await freshNode();
    const dataDir = await tempDir('mark');
    const runtime = new MemoryRuntime();
    let lists = 0;
    const list = runtime.list.bind(runtime);
    runtime.list = () => ((lists += 1), list());
    await scale(1);
    const loop = await startLoop(node, dataDir, runtime, new HookedStore(join(dataDir, 'x.json')));
    try {
      const older = await generationNow(node);
      await loop.passed(older);
      const accepted = loop.marks.accepted.bind(loop.marks);
      const held = deferred();
      loop.marks.accepted = (stamp) => held.promise.then(() => accepted(stamp));
      const [runsBefore, listsBefore] = [runtime.runs.length, lists];

      await scale(2);
      await until('the pass planning on the newer document', () =>
        lists > listsBefore ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(runtime.runs.length).toBe(runsBefore);
      expect(loop.marks.current.generation).toBe(older);

      held.resolve();
      const newer = await generationNow(node);
      await loop.passed(newer);
      expect(runtime.runs.length).toBeGreaterThan(runsBefore);
      expect(loop.marks.current.generation).toBe(newer);
    } finally {
      await loop.stop();
    }
  }, 20_000);

  it('acts on nothing of a document whose mark failed, and acts once the watch hands it again', async () => {
    const { node, scale } = await freshNode();
    const dataDir = await tempDir('markfail');
    const runtime = new MemoryRuntime();
    await scale(1);
    const loop = await startLoop(node, dataDir, runtime, new HookedStore(join(dataDir, 'x.json')));
    try {
      const older = await generationNow(node);
      await loop.passed(older);
      const accepted = loop.marks.accepted.bind(loop.marks);
      let failures = 0;
      let runsAtFailure = -1;
      loop.marks.accepted = (stamp) => {
        if (failures > 0) return accepted(stamp);
        failures += 1;
        runsAtFailure = runtime.runs.length;
        return Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
      };
      const runsBefore = runtime.runs.length;

      await scale(2);
      const newer = await generationNow(node);
      await loop.passed(newer);
      expect(failures).toBe(1);
      expect(runsAtFailure).toBe(runsBefore);
      const failed = loop.logs.filter((l) => l.msg === 'desired watch');
      expect(failed[0]).toMatchObject({ err: { message: 'EIO: i/o error, fsync' } });
      // Acted once, on the second hand-over: the instance's put happened after the failure.
      expect(runtime.runs.slice(runsBefore).filter((r) => r.kinds.includes('put'))).toHaveLength(1);
      expect(loop.passes.filter((g) => g === newer)).toEqual([newer]);
      expect(loop.marks.current.generation).toBe(newer);
    } finally {
      await loop.stop();
    }
  }, 20_000);

  it('logs a failed write and retries it while acting goes on', async () => {
    const { node, scale } = await freshNode();
    const dataDir = await tempDir('eio');
    const runtime = new MemoryRuntime();
    const store = new HookedStore(join(dataDir, 'desired.json'));
    let acted = false;
    runtime.onRun = () => (acted = true);
    // The first write fails, and every one until the pass has acted: acting must not wait.
    store.gate = () => {
      if (!acted || store.saves.length === 1) {
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      }
    };
    await scale(1);
    const loop = await startLoop(node, dataDir, runtime, store);
    try {
      const generation = await generationNow(node);
      await loop.passed(generation);
      await until('the document on disk after the retry', async () =>
        (await store.load()) ? true : undefined,
      );
      const failed = loop.logs.filter((l) => l.msg.startsWith('desired document not saved'));
      expect(failed.length).toBeGreaterThan(0);
      expect(failed[0]).toMatchObject({ level: 50, generation, retryInMs: 200 });
      expect(store.saves.filter((g) => g === generation).length).toBe(failed.length + 1);
    } finally {
      await loop.stop();
    }
  }, 20_000);
});
