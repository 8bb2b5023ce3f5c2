/**
 * An instance whose wake path is not armed is never lowered, in the real runtime with a real
 * guest (QEMU, TCG): an agent without tenant networking runs no wake trap and the instance has
 * no tenant bridge to trap on, so with service ports it refuses warm and sleep (it keeps running and answering, and says why); once
 * its pool serves no ports the same instance goes warm as before.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { WakeNotArmedError } from '../../src/agent/wake/wake-not-armed.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('lowering without a wake trap');

describe.runIf(gate.run)('an instance with service ports on a node without the wake trap', () => {
  const vm = ref('served');
  const spec = workerSpec('10.240.99.9', '52:54:00:00:99:09');
  let dataDir = '';
  let agent: AgentHandle | undefined;

  beforeAll(async () => {
    dataDir = await agentDataDir('wu');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
    });
  });

  afterAll(async () => {
    await agent?.runtime.act(vm, 'destroy').catch(() => undefined);
    await agent?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses warm and sleep, keeps running and answering, and goes warm once it serves none', async () => {
    const a = agent!;
    expect(a.deps.wake).toBeUndefined();
    await a.runtime.put(vm, { spec: { ...spec, servicePorts: [8080] } });
    const running = await a.runtime.act(vm, 'start');
    expect(running.status).toBe('running');
    for (const action of ['warm', 'sleep'] as const) {
      const refused = a.runtime.act(vm, action);
      await expect(refused).rejects.toBeInstanceOf(WakeNotArmedError);
      await expect(refused).rejects.toThrow(/could not wake it .*no tenant network/);
      const now = await a.runtime.get(vm);
      expect(now.status).toBe('running');
      expect(await a.deps.guests.for(now.handle!).ping()).toMatchObject({ ok: true });
    }
    // The pool stops serving ports: the record takes the spec and the gate lets it down.
    await a.runtime.put(vm, { spec });
    expect((await a.runtime.act(vm, 'warm')).status).toBe('warm');
  }, 600_000);
});
