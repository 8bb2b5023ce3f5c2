/**
 * An agent stopped in the middle of a clone's start (real QEMU guests, TCG, no NIC): the
 * clone's VMM was restored from the pool base and resumed, but its guest never took its
 * identity. The next agent must not adopt it as it is (it would run as its base): recovery
 * ends its VMM and fails it with the reason, and a start then boots it with its own identity.
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CLONE_INTENT } from '../../src/agent/clones/clone-steps.ts';
import { instanceDir } from '../../src/agent/runtime/layout.ts';
import { save } from '../../src/agent/runtime/step-context.ts';
import { materialize } from '../../src/agent/runtime/vm-spec.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('an interrupted clone');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.runIf(gate.run)('an agent stopped while a clone took its identity', () => {
  let dataDir = '';
  let agent: AgentHandle | undefined;
  const donor = ref('d0');
  const clone = ref('d1');
  const spec = (octet: number) => ({
    ...workerSpec(`10.240.99.${octet}`, `52:54:00:00:99:${octet}`),
    network: false,
  });
  const start = async () =>
    (agent = await startAgent(testAgentConfig(dataDir, { MVM_CLONES: 'on' }), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
    }));

  afterAll(async () => {
    for (const r of [clone, donor]) await agent?.runtime.act(r, 'destroy').catch(() => undefined);
    await agent?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('ends the half-made clone at recovery, and a start boots it as itself', async () => {
    dataDir = await agentDataDir('clrec');
    const a = await start();
    await a.runtime.put(donor, { spec: spec(21) });
    const donorRecord = await a.runtime.act(donor, 'start');
    const donorBoot = (await a.deps.guests.for(donorRecord.handle!).status()).boot_id;
    // What cloneBoot does up to the identity step, then the agent goes away.
    let record = await a.runtime.put(clone, { spec: spec(22) });
    const image = await a.deps.images.resolve(record.spec.revision);
    const base = await a.deps.clones!.find(record, image);
    expect(base).toBeDefined();
    expect(
      await a.deps.drives.seedData!(instanceDir(a.deps.layout, record.key), base!.dataPath),
    ).toBe(true);
    record = await save(a.deps, record, { intent: CLONE_INTENT });
    const built = await materialize(a.deps, record);
    const handle = await a.deps.vmm.restore(built.spec, base!.snapshot);
    await save(a.deps, record, { handle });
    await a.deps.vmm.resume(handle);
    const half = await a.deps.guests.for(handle).status();
    // Restored, still its base: the donor's boot and hostname.
    expect(half).toMatchObject({ boot_id: donorBoot, hostname: 'd0' });
    await a.close();

    const b = await start();
    const recovered = await b.runtime.get(clone);
    expect(recovered).toMatchObject({ status: 'failed', handle: null, intent: null });
    expect(recovered.failureReason).toMatch(/stopped while this clone took its identity/);
    expect(alive(handle.pid)).toBe(false);
    // The donor was adopted as it was.
    expect((await b.runtime.get(donor)).status).toBe('running');

    const again = await b.runtime.act(clone, 'start');
    expect(again.status).toBe('running');
    const status = await b.deps.guests.for(again.handle!).status();
    expect(status.hostname).toBe('d1');
    expect(status.boot_id).not.toBe(donorBoot);
  }, 900_000);
});
