/**
 * Pool bases go on their own (docs/clones.md): a real agent (clones on, no guest booted) with
 * instance records and bases on disk. A base no instance of its pool revision here uses is
 * kept through the grace period and dropped after it; the base of a pool revision an instance
 * runs stays; a base used again within its grace starts counting anew. The agent started with
 * `MVM_BASE_GRACE_SECS=0` drops an unused base by itself, with no `mvm node gc`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BaseCollector } from '../../src/agent/clones/base-collector.ts';
import { BaseStore } from '../../src/agent/clones/base-store.ts';
import type { GuestImage, ImageSource } from '../../src/agent/runtime/image-source.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { baseKey } from '../../src/core/base-key.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { ManualClock } from '../coordinator/node-health-harness.ts';
import { until } from '../support/until.ts';
import { baseInputs, fillBase } from './base-fixture.ts';
import { quietLogger, tcgVmm, testAgentConfig } from './agent-harness.ts';

const CURRENT = 'c'.repeat(64);
const OLD = '0'.repeat(64);

/** The agent's image source, resolving every revision to the current image (no build). */
function resolvedImages(): ImageSource {
  const current: GuestImage = {
    revision: CURRENT,
    kernelPath: '/nonexistent/vmlinux',
    cmdlineBase: 'console=ttyS0',
  };
  return { resolve: async () => current, current: () => current };
}

const spec = (n: number) => ({
  role: 'worker' as const,
  vcpus: 1,
  memMib: 256,
  dataDiskMib: 16,
  ip: `10.240.9.${n}`,
  mac: `02:6d:76:00:09:0${n}`,
});

describe('pool bases collected on their own', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  async function agentWith(env: Record<string, string>) {
    const root = await mkdtemp(join(tmpdir(), 'mvm-mv2-bases-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const dataDir = join(root, 'data');
    const start = async () => {
      const started: AgentHandle = await startAgent(
        testAgentConfig(dataDir, { MVM_NETWORK: 'off', MVM_CLONES: 'on', ...env }),
        { logger: quietLogger, vmm: tcgVmm(), cgroups: null, images: resolvedImages() },
      );
      cleanup.push(() => started.close());
      return started;
    };
    const agent = await start();
    /** The agent stopped and started again on the same data dir. */
    const restart = async () => {
      await agent.close();
      return start();
    };
    const bases = new BaseStore(join(dataDir, 'bases'), silentLogger);
    const baseOf = async (poolId: string, revision: string) => {
      const inputs = baseInputs({
        scope: { tenantId: 'acme', poolId },
        imageDigest: `${revision} /cache/rootfs.ext4 -`,
      });
      await bases.create(baseKey(inputs), inputs, 'donor', fillBase);
      return join(dataDir, 'bases', baseKey(inputs));
    };
    return { agent, baseOf, restart };
  }

  it('keeps an unused base through its grace, then drops it; a used one stays', async () => {
    const { agent, baseOf } = await agentWith({ MVM_BASE_GRACE_SECS: '3600' });
    await agent.runtime.put(
      { tenantId: 'acme', poolId: 'web', instanceId: 'w1' },
      { spec: spec(3) },
    );
    await agent.runtime.put(
      { tenantId: 'acme', poolId: 'api', instanceId: 'a1' },
      { spec: spec(4) },
    );
    const web = await baseOf('web', CURRENT); // web's instance runs this revision
    const api = await baseOf('api', OLD); // api's instance runs CURRENT: this base serves none
    const gone = await baseOf('gone', CURRENT); // no instance of gone here
    const clock = new ManualClock(Date.parse('2026-12-04T00:00:00.000Z'));
    const collector = new BaseCollector(
      agent.runtime,
      { ...agent.deps, clock },
      { graceMs: 60_000 },
    );

    expect(await collector.pass()).toEqual([]);
    clock.advance(59_999);
    expect(await collector.pass()).toEqual([]);
    expect([web, api, gone].map((p) => existsSync(p))).toEqual([true, true, true]);
    // gone gets an instance again within its grace: kept, and its grace starts anew after.
    const again = await agent.runtime.put(
      { tenantId: 'acme', poolId: 'gone', instanceId: 'g1' },
      { spec: spec(5) },
    );
    clock.advance(1);
    expect(await collector.pass()).toEqual([api.split('/').at(-1)]);
    expect([web, api, gone].map((p) => existsSync(p))).toEqual([true, false, true]);
    await agent.runtime.act(again, 'destroy');
    expect(await collector.pass()).toEqual([]);
    clock.advance(59_999);
    expect(await collector.pass()).toEqual([]);
    clock.advance(1);
    expect(await collector.pass()).toEqual([gone.split('/').at(-1)]);
    expect([web, api, gone].map((p) => existsSync(p))).toEqual([true, false, false]);
    // The base of the revision web's instance runs is never collected while it lives.
    clock.advance(3_600_000);
    expect(await collector.pass()).toEqual([]);
    expect(existsSync(web)).toBe(true);
  });

  it('goes on counting the grace across an agent restart: the time is kept with the base', async () => {
    const { agent, baseOf, restart } = await agentWith({ MVM_BASE_GRACE_SECS: '3600' });
    const gone = await baseOf('gone', CURRENT); // no instance of gone here
    const web = await baseOf('web', CURRENT); // unused at first, then an instance comes
    const clock = new ManualClock(Date.parse('2026-12-04T00:00:00.000Z'));
    const collectorOf = (a: AgentHandle) =>
      new BaseCollector(a.runtime, { ...a.deps, clock }, { graceMs: 60_000 });
    const marker = (base: string) => join(base, 'unused-since.json');

    expect(await collectorOf(agent).pass()).toEqual([]);
    expect(JSON.parse(await readFile(marker(gone), 'utf8'))).toEqual({
      since: '2026-12-04T00:00:00.000Z',
    });
    expect(existsSync(marker(web))).toBe(true);
    clock.advance(40_000);
    await agent.runtime.put(
      { tenantId: 'acme', poolId: 'web', instanceId: 'w1' },
      { spec: spec(3) },
    );
    expect(await collectorOf(agent).pass()).toEqual([]);
    // Used again: its record goes, and its grace would start anew.
    expect(existsSync(marker(web))).toBe(false);

    const again = await restart();
    clock.advance(19_999);
    expect(await collectorOf(again).pass()).toEqual([]);
    clock.advance(1);
    // 60 s since the first agent found it unused, not 60 s since the restart.
    expect(await collectorOf(again).pass()).toEqual([gone.split('/').at(-1)]);
    expect([gone, web].map((p) => existsSync(p))).toEqual([false, true]);
  });

  it('a damaged unused-since record starts the grace again', async () => {
    const { agent, baseOf } = await agentWith({ MVM_BASE_GRACE_SECS: '3600' });
    const gone = await baseOf('gone', CURRENT);
    await writeFile(join(gone, 'unused-since.json'), '{"since": "yesterday"}');
    const clock = new ManualClock(Date.parse('2026-12-04T00:00:00.000Z'));
    const collector = new BaseCollector(
      agent.runtime,
      { ...agent.deps, clock },
      { graceMs: 60_000 },
    );
    expect(await collector.pass()).toEqual([]);
    expect(JSON.parse(await readFile(join(gone, 'unused-since.json'), 'utf8'))).toEqual({
      since: '2026-12-04T00:00:00.000Z',
    });
    clock.advance(60_000);
    expect(await collector.pass()).toEqual([gone.split('/').at(-1)]);
  });

  it('runs by itself in a serving agent', async () => {
    const { agent, baseOf } = await agentWith({ MVM_BASE_GRACE_SECS: '0' });
    await agent.runtime.put(
      { tenantId: 'acme', poolId: 'web', instanceId: 'w1' },
      { spec: spec(3) },
    );
    const web = await baseOf('web', CURRENT);
    const gone = await baseOf('gone', CURRENT);
    await until('the unused base to go', () => (existsSync(gone) ? undefined : true), 30_000);
    expect(existsSync(web)).toBe(true);
  });
});
