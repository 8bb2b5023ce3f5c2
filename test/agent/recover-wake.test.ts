/**
 * Recovery of a wake cut short by an agent crash, with a real guest (QEMU, TCG): the crash is
 * reproduced by doing the wake's own steps (restore, optionally resume) and recording the
 * 'wake' intent, then opening a new agent on the same data dir.
 * - restored but never resumed: the snapshot is still the truth; the process goes, it stays asleep;
 * - resumed: the guest ran on (it may have written its disks); the wake is finished, not undone.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { materialize } from '../../src/agent/runtime/vm-spec.ts';
import { save } from '../../src/agent/runtime/step-context.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('agent recovery of an interrupted wake');

type Agent = AgentHandle;

describe.runIf(gate.run)('agent recovery of an interrupted wake', () => {
  const vm = ref('wk1');
  let dataDir = '';
  let agent: Agent | undefined;
  const open = async () =>
    (agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm: tcgVmm(),
      logger: quietLogger,
      network: null,
    }));

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The wake's steps up to the crash point, as boot-steps.ts performs them. */
  async function crashMidWake(a: Agent, resumed: boolean) {
    const sleeping = await a.runtime.get(vm);
    if (!sleeping.snapshot) throw new Error('no snapshot to wake from');
    const intent = await save(a.deps, sleeping, { intent: 'wake' });
    const { spec } = await materialize(a.deps, intent);
    const handle = await a.deps.vmm.restore(spec, sleeping.snapshot);
    await save(a.deps, intent, { handle });
    if (resumed) await a.deps.vmm.resume(handle);
    await a.close();
    return handle;
  }

  it('a restore never resumed is dropped and the instance stays asleep on its snapshot', async () => {
    dataDir = await agentDataDir('rw');
    let a = await open();
    await a.runtime.put(vm, { spec: workerSpec('10.240.98.7', '52:54:00:00:98:07') });
    const booted = await a.runtime.act(vm, 'start');
    const bootId = (await a.deps.guests.for(booted.handle!).status()).boot_id;
    await a.runtime.act(vm, 'sleep');
    const handle = await crashMidWake(a, false);

    a = await open();
    const record = await a.runtime.get(vm);
    expect(record).toMatchObject({ status: 'sleeping', intent: null, handle: null });
    expect(record.snapshot).not.toBeNull();
    expect(await a.deps.vmm.adopt(handle)).toBeNull();

    // The kept snapshot still wakes the same guest.
    const woken = await a.runtime.act(vm, 'wake');
    expect((await a.deps.guests.for(woken.handle!).status()).boot_id).toBe(bootId);
  });

  it('a resumed guest is kept running, the older snapshot discarded', async () => {
    let a = agent!;
    await a.runtime.act(vm, 'sleep');
    const sleeping = await a.runtime.get(vm);
    const handle = await crashMidWake(a, true);

    a = await open();
    const record = await a.runtime.get(vm);
    expect(record).toMatchObject({ status: 'running', intent: null, snapshot: null });
    expect(record.handle?.pid).toBe(handle.pid);
    expect(await a.deps.guests.for(record.handle!).ping()).toMatchObject({ ok: true });
    // Recovery told the guest of its wake: it remounted the drives rebuilt for it.
    expect((await a.deps.guests.for(record.handle!).status()).remounts).toBeGreaterThan(0);
    expect(sleeping.snapshot).not.toBeNull();
    expect(existsSync(sleeping.snapshot!.dir)).toBe(false);
  });
});
