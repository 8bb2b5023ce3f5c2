/**
 * The world of the worker-microVM jobs e2e test: a real coordinator on loopback (SQLite), one
 * real agent linked to it whose dev images are worker images (`MVM_WORKER_IMAGE=on`: Node and
 * the executor in the rootfs), QEMU under TCG, no tenant network, and the CLI in-process
 * against the listener. The agent keeps an executor in each running worker guest and relays
 * its calls; nothing in the test drives the relay or the executor.
 */
import type { JobView } from '../../../src/contract/jobs.ts';
import type { InstanceView } from '../../../src/contract/resources.ts';
import type { ApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import type { CliResult } from '../../support/exec-world.ts';
import { startLinkedWorld } from './linked-world.ts';

export const TENANT = 'acme';
export const POOL = 'ci';

export interface JobsWorld {
  api: ApiClient;
  mvm: (argv: readonly string[]) => Promise<CliResult>;
  /** Runs a command that must succeed (its stderr in the failure message); its stdout. */
  ok: (argv: readonly string[]) => Promise<string>;
  instances: () => Promise<InstanceView[]>;
  job: (id: string) => Promise<JobView>;
  /** Instances, the pool's audit trail and the agent's warnings, for a failed wait. */
  story: () => Promise<string>;
  close: () => Promise<void>;
}

/** What the story shows of a running worker from inside: top, its CPU time, its interrupts. */
const GUEST_LOOK = 'top -b -n 1 | head -15; head -1 /proc/stat; cat /proc/interrupts';

export async function startJobsWorld(dir: string): Promise<JobsWorld> {
  const world = await startLinkedWorld(dir, {
    agentEnv: { MVM_WORKER_IMAGE: 'on' },
    coordinator: { idleCheckMs: 1_000 },
  });
  const { api } = world;
  const instances = () => world.instances(TENANT);
  const job = (id: string) => api.call('getJob', { params: { tenant: TENANT, job: id } });
  /**
   * What each worker's VMM did as the node last reported it (a busy guest is never idle), and
   * the busiest processes inside it, its CPU time and interrupt counts: a guest that spins
   * after a wake, or an interrupt storm an idle guest would count as idle, shows here.
   */
  const busy = async (list: InstanceView[]) => {
    const report = await api
      .call('getNodeReport', { params: { node: 'n1' } })
      .catch(() => undefined);
    const samples = (report?.instances ?? []).map(
      (s) => `${s.instance} cpu ${s.cpuPermille ?? '?'}‰ lastActive ${s.lastActiveAt ?? '-'}`,
    );
    const top: string[] = [];
    for (const i of list.filter((x) => x.status === 'running')) {
      const path = `${TENANT}/${POOL}/${i.id}`;
      const ps = await world
        .mvm(['instance', 'exec', path, '--', 'sh', '-c', GUEST_LOOK])
        .catch((error: unknown) => ({ stdout: '', stderr: String(error) }));
      top.push(`${i.id}:\n${ps.stdout}${ps.stderr}`);
    }
    return { samples, top };
  };
  const story = async (): Promise<string> => {
    const events = await api.call('listEvents', { query: { tenant: TENANT, last: 40 } });
    const list = await instances();
    return JSON.stringify(
      {
        instances: list.map((i) => `${i.id} ${i.status}/${i.desiredStatus}`),
        events: events.map((e) => `${e.actor} ${e.action} ${e.target}`),
        agentProblems: await world.agentProblems(),
        workers: await busy(list).catch((error: unknown) => String(error)),
      },
      null,
      1,
    );
  };
  return { api, mvm: world.mvm, ok: world.ok, instances, job, story, close: world.close };
}
