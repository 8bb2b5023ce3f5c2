import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import { DesiredMarkFile } from '../../src/agent/desired/desired-mark-file.ts';
import { heartbeatBody } from '../../src/agent/heartbeat/send-heartbeats.ts';
import { runAgentLoop } from '../../src/agent/reconcile/agent-loop.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { SignedEnvelope } from '../../src/contract/desired.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { until } from '../support/until.ts';
import { testAgentConfig } from './agent-harness.ts';

const qemu = existsSync('/usr/bin/qemu-system-x86_64');
if (!qemu) {
  const message = 'desired replay: qemu-system-x86_64 is absent; install qemu-system-x86';
  if (process.env.CI) throw new Error(message);
  console.warn(`[skip] ${message}`);
}

/** The captured generation, and the one the coordinator issued after the destroy. */
const OLD = 1;
const NOW = 2;

type LogLine = Record<string, unknown> & { msg: string };

/**
 * A real coordinator signs real documents; an attacker on the agent's path captured one that
 * ran an instance, which was destroyed since, and plays it back. The agent must refuse it, say
 * why, and change nothing on the host: no VM, no pass on it, its saved document kept.
 */
describe.skipIf(!qemu)('replayed desired-state documents', () => {
  const dirs: string[] = [];
  let coordinator!: RunningCoordinator;
  let admin: ApiClient;
  let token: string;
  let captured: SignedEnvelope;
  let trusted: string;
  let agent!: AgentHandle;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const coordDir = await tempDir('c');
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(coordDir, 'c.sqlite'),
        clusterCidr: '10.240.0.0/12',
        dataDir: coordDir,
        nodeLostAfterMs: 3_600_000,
      },
      { logger: pino({ level: 'silent' }) },
    );
    closers.push(() => coordinator.close());
    token = (await readFile(join(coordDir, 'admin.token'), 'utf8')).trim();
    admin = createApiClient({ baseUrl: coordinator.url, token });
    await admin.call('registerNode', {
      params: { node: 'node-r' },
      body: { hostname: 'r', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
    });
    await admin.call('createTenant', { body: { id: 't1', netId: 213 } });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await admin.call('createPool', { params: { tenant: 't1' }, body: pool });
    await admin.call('scalePool', { params: { tenant: 't1', pool: 'web' }, body: { running: 1 } });
    captured = (await admin.call('watchNodeDesired', {
      params: { node: 'node-r' },
      query: { after: 0, waitMs: 0 },
    })) as SignedEnvelope;
    expect(JSON.parse(captured.payload)).toMatchObject({ generation: OLD });
    // Since destroyed: the coordinator's document now lists it as destroyed (generation NOW).
    await admin.call('destroyPool', {
      params: { tenant: 't1', pool: 'web' },
      query: { force: 'true' },
    });
    trusted = (await admin.call('getSigningKey', {})).publicKeyPem;
    agent = await startAgent(testAgentConfig(await tempDir('a'), { MVM_NETWORK: 'off' }), {
      mode: 'runtime',
      logger: pino({ level: 'silent' }),
    });
    closers.push(() => agent.close());
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `mvm-replay-${label}-`));
    dirs.push(dir);
    return dir;
  }

  /** The agent's path to the coordinator, answering the first watch with the captured copy. */
  function replayingApi(replay: boolean): ApiClient {
    let replayed = !replay;
    return createApiClient({
      baseUrl: coordinator.url,
      token,
      fetch: (request) => {
        if (replayed || !request.url.includes('/desired')) return fetch(request);
        replayed = true;
        return Response.json(captured);
      },
    });
  }

  /** Runs the loop until it passed on the coordinator's current generation; returns its logs. */
  async function follow(dataDir: string, marks: DesiredMarkFile, maxAgeMs: number, replay = true) {
    const logs: LogLine[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => logs.push(JSON.parse(line)) },
    );
    const passes: number[] = [];
    const abort = new AbortController();
    const loop = runAgentLoop({
      api: replayingApi(replay),
      nodeId: 'node-r',
      trustedKeys: [trusted],
      production: true,
      runtime: agent.runtime,
      store: new DesiredFileStore(join(dataDir, 'desired.json')),
      marks,
      maxAgeMs,
      clock: systemClock,
      logger,
      signal: abort.signal,
      onPass: (generation) => passes.push(generation),
    });
    try {
      await until(
        'a pass on the current document',
        () => (passes.includes(NOW) ? true : undefined),
        20_000,
      );
    } finally {
      abort.abort();
      await loop;
    }
    expect(passes.every((generation) => generation === NOW)).toBe(true);
    expect(await agent.runtime.list()).toEqual([]);
    return logs;
  }

  const refusals = (logs: LogLine[]) => logs.filter((l) => l.msg.includes('refused'));

  it('a wiped agent refuses a captured document older than its age bound', async () => {
    const dataDir = await tempDir('wiped');
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const logs = await follow(dataDir, await DesiredMarkFile.open(join(dataDir, 'm.json')), 1_000);
    const [refused] = refusals(logs);
    expect(refused).toMatchObject({
      msg: 'desired-state document refused; nothing applied',
      refused: 'stale',
      generation: OLD,
    });
    expect(String((refused?.err as { message: string }).message)).toMatch(
      /issued at .*, \d+ s ago, over the 1 s \(maxDocumentAgeSecs\)/,
    );
  });

  it('a wiped agent refuses a fresh copy below the generation the coordinator reported', async () => {
    const dataDir = await tempDir('told');
    const marks = await DesiredMarkFile.open(join(dataDir, 'desired-mark.json'));
    const beat = await admin.call('nodeHeartbeat', {
      params: { node: 'node-r' },
      body: await heartbeatBody({
        api: admin,
        nodeId: 'node-r',
        runtime: agent.runtime,
        dataDir,
        clock: systemClock,
        signal: new AbortController().signal,
      }),
    });
    expect(beat.desiredGeneration).toBe(NOW);
    await marks.coordinatorIssued(beat.desiredGeneration ?? 0);
    const logs = await follow(dataDir, marks, 600_000);
    expect(refusals(logs)[0]).toMatchObject({
      refused: 'replay',
      generation: OLD,
      coordinatorGeneration: NOW,
    });
  });

  it('an agent whose desired.json is put back from an older copy refuses it at start', async () => {
    const dataDir = await tempDir('restored');
    const marks = await DesiredMarkFile.open(join(dataDir, 'desired-mark.json'));
    // Not replayed here: a wiped agent that has not heard the coordinator's generation yet
    // accepts any copy within its age bound (the documented gap).
    await follow(dataDir, marks, 600_000, false);
    expect(marks.current.generation).toBe(NOW);
    await writeFile(join(dataDir, 'desired.json'), JSON.stringify(captured));
    const logs = await follow(
      dataDir,
      await DesiredMarkFile.open(join(dataDir, 'desired-mark.json')),
      600_000,
    );
    const [atStart, inWatch] = refusals(logs);
    expect(atStart).toMatchObject({
      msg: 'saved desired document refused; waiting for a fresh one',
      refused: 'replay',
    });
    // The watch asks again from just below the mark and refuses the same copy there too.
    expect(inWatch).toMatchObject({ refused: 'replay', generation: OLD, lastGeneration: OLD });
  });
});
