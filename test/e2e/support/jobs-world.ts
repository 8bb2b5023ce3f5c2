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

export async function startJobsWorld(dir: string): Promise<JobsWorld> {
  const world = await startLinkedWorld(dir, {
    agentEnv: { MVM_WORKER_IMAGE: 'on' },
    coordinator: { idleCheckMs: 1_000 },
  });
  const { api } = world;
  const instances = () => world.instances(TENANT);
  const job = (id: string) => api.call('getJob', { params: { tenant: TENANT, job: id } });
  const story = async (): Promise<string> => {
    const events = await api.call('listEvents', { query: { tenant: TENANT, last: 40 } });
    return JSON.stringify(
      {
        instances: (await instances()).map((i) => `${i.id} ${i.status}/${i.desiredStatus}`),
        events: events.map((e) => `${e.actor} ${e.action} ${e.target}`),
        agentProblems: await world.agentProblems(),
      },
      null,
      1,
    );
  };
  return { api, mvm: world.mvm, ok: world.ok, instances, job, story, close: world.close };
}
