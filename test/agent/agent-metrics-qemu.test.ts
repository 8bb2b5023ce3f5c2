/**
 * The agent's /metrics with a real guest (QEMU, TCG), scraped over HTTP as Prometheus would
 * (`agent.metricsListen`) and read with a strict parser: lifecycle steps and wakes are counted,
 * an instance's counters never go down across a sleep and wake (a new VMM process), and its
 * series are gone after destroy.
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { parsePromText, sumOf, type PromFamily } from '../support/prom-text.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('agent metrics');

const COUNTERS = [
  'mvm_instance_cpu_seconds_total',
  'mvm_instance_block_read_bytes_total',
  'mvm_instance_block_write_bytes_total',
];

describe.runIf(gate.run)('agent metrics', () => {
  const vm = ref('mt1');
  const labels = { tenant: 'acme', pool: 'web', instance: 'mt1' };
  let dataDir = '';
  let agent: AgentHandle | undefined;

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function scrape(): Promise<Map<string, PromFamily>> {
    const response = await fetch(`http://${agent?.metricsAddress ?? ''}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePromText(await response.text());
  }

  const steps = (families: Map<string, PromFamily>, step: string) =>
    sumOf(
      families,
      'mvm_vm_lifecycle_duration_seconds',
      { step, hypervisor: 'qemu', outcome: 'ok' },
      'mvm_vm_lifecycle_duration_seconds_count',
    );

  it('counts steps and wakes, keeps counters monotonic across a wake, drops them on destroy', async () => {
    dataDir = await agentDataDir('mt');
    agent = await startAgent(
      testAgentConfig(dataDir, { MVM_NETWORK: 'off' }, { metricsListen: '127.0.0.1:0' }),
      { vmm: tcgVmm(), logger: quietLogger, network: null },
    );
    expect(agent.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const empty = await scrape();
    expect(sumOf(empty, 'mvm_vms')).toBe(0);
    expect(empty.get('mvm_instance_cpu_seconds_total')?.samples ?? []).toEqual([]);

    await agent.runtime.put(vm, { spec: workerSpec('10.240.98.9', '52:54:00:00:98:09') });
    await agent.runtime.act(vm, 'start');
    const running = await scrape();
    expect(steps(running, 'boot')).toBe(1);
    expect(sumOf(running, 'mvm_vms', { status: 'running' })).toBe(1);
    expect(sumOf(running, 'mvm_instance_cpu_seconds_total', labels)).toBeGreaterThan(0);
    expect(sumOf(running, 'mvm_instance_memory_bytes', labels)).toBeGreaterThan(16 * 1024 * 1024);

    await agent.runtime.act(vm, 'sleep');
    const asleep = await scrape();
    expect(steps(asleep, 'sleep')).toBe(1);
    expect(sumOf(asleep, 'mvm_instance_memory_bytes', labels)).toBe(0);
    for (const name of COUNTERS) {
      expect(sumOf(asleep, name, labels), name).toBeGreaterThanOrEqual(
        sumOf(running, name, labels),
      );
    }

    await agent.runtime.act(vm, 'wake');
    const woken = await scrape();
    expect(steps(woken, 'wake')).toBe(1);
    expect(sumOf(woken, 'mvm_vm_wakes_total', { from: 'sleeping', trigger: 'local-api' })).toBe(1);
    for (const name of COUNTERS) {
      expect(sumOf(woken, name, labels), name).toBeGreaterThanOrEqual(sumOf(asleep, name, labels));
    }
    // The woken VMM is a new process: its own CPU adds to what the first one used.
    expect(sumOf(woken, 'mvm_instance_cpu_seconds_total', labels)).toBeGreaterThan(
      sumOf(asleep, 'mvm_instance_cpu_seconds_total', labels),
    );

    await agent.runtime.act(vm, 'destroy');
    const gone = await scrape();
    const series = [...gone.values()].flatMap((f) => f.samples);
    expect(series.filter((s) => s.labels.instance === 'mt1')).toEqual([]);
    expect(steps(gone, 'destroy')).toBe(1);
  });
});
