/**
 * The world of the worker-microVM jobs e2e test: a real coordinator on loopback (SQLite), one
 * real agent linked to it whose dev images are worker images (`MVM_WORKER_IMAGE=on`: Node and
 * the executor in the rootfs), QEMU under TCG, no tenant network, and the CLI in-process
 * against the listener. The agent keeps an executor in each running worker guest and relays
 * its calls; nothing in the test drives the relay or the executor.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent, type AgentHandle } from '../../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../../src/coordinator/serve.ts';
import type { JobView } from '../../../src/contract/jobs.ts';
import type { InstanceView } from '../../../src/contract/resources.ts';
import {
  createApiClient,
  type ApiClient,
} from '../../../src/drivers/coordinator-api/api-client.ts';
import { tcgVmm, testAgentConfig } from '../../agent/agent-harness.ts';
import { cliAt, type CliResult } from '../../support/exec-world.ts';
import { until } from '../../support/until.ts';

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
  const admin = randomBytes(24).toString('hex');
  const coordinator: RunningCoordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: join(dir, 'coordinator.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken: admin,
      dataDir: join(dir, 'coordinator'),
      idleCheckMs: 1_000,
    },
    { logger: pino({ level: 'silent' }) },
  );
  const api = createApiClient({ baseUrl: coordinator.url, token: admin, timeoutMs: 60_000 });
  const capacity = { vcpus: 4, memMib: 2048, diskGib: 10 };
  await api.call('registerNode', {
    params: { node: 'n1' },
    body: { hostname: 'n1', arch: 'x86_64', capacity },
  });
  const agentLog = join(dir, 'agent.log');
  const agentLogger = pino({ level: 'info' }, pino.destination({ dest: agentLog, sync: true }));
  let agent: AgentHandle | undefined;
  try {
    agent = await startAgent(
      testAgentConfig(
        join(dir, 'agent'),
        { MVM_NETWORK: 'off', MVM_WORKER_IMAGE: 'on' },
        { coordinator: coordinator.url, token: admin, node: 'n1', heartbeatMs: 1_000 },
      ),
      { logger: agentLogger, vmm: tcgVmm(), cgroups: null, network: null, capacity },
    );
    const linked = agent;
    await until('the tunnel', () => linked.link?.tunnel.connected || undefined, 60_000);
  } catch (error) {
    await agent?.close();
    await coordinator.close();
    throw error;
  }
  const mvm = cliAt(coordinator.url, admin);
  const ok = async (argv: readonly string[]): Promise<string> => {
    const run = await mvm(argv);
    if (run.code !== 0) throw new Error(`mvm ${argv.join(' ')}: exit ${run.code}\n${run.stderr}`);
    return run.stdout.toString();
  };
  const instances = async () =>
    (await api.call('listInstances', { query: { tenant: TENANT } })).sort((a, b) =>
      a.id.localeCompare(b.id),
    );
  const job = (id: string) => api.call('getJob', { params: { tenant: TENANT, job: id } });
  const story = async (): Promise<string> => {
    const events = await api.call('listEvents', { query: { tenant: TENANT, last: 40 } });
    return JSON.stringify(
      {
        instances: (await instances()).map((i) => `${i.id} ${i.status}/${i.desiredStatus}`),
        events: events.map((e) => `${e.actor} ${e.action} ${e.target}`),
        agentProblems: await problemsIn(agentLog),
      },
      null,
      1,
    );
  };
  const close = async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator.close();
  };
  return { api, mvm, ok, instances, job, story, close };
}

/** The last warnings and errors of a pino log file, one line each. */
async function problemsIn(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number })
    .filter((entry) => entry.level >= 40)
    .slice(-20)
    .map((entry) => JSON.stringify(entry).slice(0, 1500));
}
