/**
 * The world of the rollout e2e test: a real coordinator listening on loopback, one real agent
 * linked to it by token (QEMU under TCG, no tenant network), and the CLI in-process against the
 * listener, as a user runs it. What a failed assertion needs to be diagnosable is `story()`:
 * the pool's rollout, each instance's status and revision, and the rollout's audit trail.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent, type AgentHandle } from '../../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../../src/coordinator/serve.ts';
import type { InstanceView } from '../../../src/contract/resources.ts';
import type { RevisionView } from '../../../src/contract/revisions.ts';
import {
  createApiClient,
  type ApiClient,
} from '../../../src/drivers/coordinator-api/api-client.ts';
import { tcgVmm, testAgentConfig } from '../../agent/agent-harness.ts';
import { cliAt, type CliResult } from '../../support/exec-world.ts';
import { until } from '../../support/until.ts';

export const TENANT = 'shop';
export const POOL = 'web';
const pool = { tenant: TENANT, pool: POOL };

export interface RolloutWorld {
  api: ApiClient;
  mvm: (argv: readonly string[]) => Promise<CliResult>;
  /** Runs a command that must succeed (its stderr in the failure message); its stdout. */
  ok: (argv: readonly string[]) => Promise<string>;
  build: () => Promise<string>;
  instances: () => Promise<InstanceView[]>;
  story: () => Promise<string>;
  close: () => Promise<void>;
}

export async function startRolloutWorld(dir: string): Promise<RolloutWorld> {
  const admin = randomBytes(24).toString('hex');
  const coordinator: RunningCoordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: join(dir, 'coordinator.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken: admin,
      dataDir: join(dir, 'coordinator'),
    },
    { logger: pino({ level: 'silent' }) },
  );
  const api = createApiClient({ baseUrl: coordinator.url, token: admin, timeoutMs: 60_000 });
  const capacity = { vcpus: 4, memMib: 2048, diskGib: 10 };
  await api.call('registerNode', {
    params: { node: 'n1' },
    body: { hostname: 'n1', arch: 'x86_64', capacity },
  });
  // The agent's warnings and errors go into the story of a failure (why a node failed a VM).
  const agentLog = join(dir, 'agent.log');
  const agentLogger = pino({ level: 'info' }, pino.destination({ dest: agentLog, sync: true }));
  let agent: AgentHandle | undefined;
  try {
    agent = await startAgent(
      testAgentConfig(
        join(dir, 'agent'),
        { MVM_NETWORK: 'off' },
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
  const story = async (): Promise<string> => {
    const rollout = (await api.call('getPool', { params: pool })).rollout;
    const events = await api.call('listEvents', { query: { tenant: TENANT, last: 50 } });
    return JSON.stringify(
      {
        rollout,
        instances: (await instances()).map((i) => `${i.id} ${i.status} ${i.revision ?? '-'}`),
        agentProblems: await problemsIn(agentLog),
        events: events
          .filter((e) => e.action.startsWith('rollout.'))
          .map((e) => `${e.action} ${JSON.stringify(e.detail)}`),
      },
      null,
      1,
    );
  };
  const build = async (): Promise<string> => {
    const built = await ok(['pool', 'build', `${TENANT}/${POOL}`, '--json']);
    return (JSON.parse(built) as RevisionView).id;
  };
  const close = async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator.close();
  };
  return { api, mvm, ok, build, instances, story, close };
}

/** The last warnings and errors of a pino log file, one line each. */
async function problemsIn(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg?: string; err?: { message?: string } })
    .filter((entry) => entry.level >= 40)
    .slice(-20)
    .map((entry) => JSON.stringify(entry).slice(0, 1500));
}
