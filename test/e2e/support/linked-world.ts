/**
 * What the e2e worlds with one real node share: a real coordinator on loopback (SQLite), one
 * real agent linked to it by token (QEMU under TCG, no tenant network) with its log in a file,
 * and the CLI in-process against the listener, as a user runs it. Each world adds its own
 * helpers and `story()` on top.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent, type AgentHandle } from '../../../src/agent/start-agent.ts';
import {
  serveCoordinator,
  type RunningCoordinator,
  type ServeSettings,
} from '../../../src/coordinator/serve.ts';
import type { InstanceView } from '../../../src/contract/resources.ts';
import {
  createApiClient,
  type ApiClient,
} from '../../../src/drivers/coordinator-api/api-client.ts';
import { tcgVmm, testAgentConfig } from '../../agent/agent-harness.ts';
import { cliAt, type CliOptions, type CliResult } from '../../support/exec-world.ts';
import { until } from '../../support/until.ts';

export interface LinkedWorld {
  api: ApiClient;
  agent: AgentHandle;
  mvm: (argv: readonly string[], options?: CliOptions) => Promise<CliResult>;
  /** Runs a command that must succeed (its stderr in the failure message); its stdout. */
  ok: (argv: readonly string[]) => Promise<string>;
  /** The tenant's instances, by id. */
  instances: (tenant: string) => Promise<InstanceView[]>;
  /** The agent's last warnings and errors, one line each (for a failure's story). */
  agentProblems: () => Promise<string[]>;
  close: () => Promise<void>;
}

export interface LinkedWorldOptions {
  /** The agent's environment beyond `MVM_NETWORK=off`. */
  agentEnv?: Record<string, string>;
  /** Coordinator settings beyond the loopback SQLite ones. */
  coordinator?: Partial<ServeSettings>;
  /**
   * Tenant networking on, in this network namespace (`--netns`): bridges, taps, VMMs, the
   * wake trap there; the agent's own process (its API, published ports) in the test's.
   */
  netns?: string;
}

export async function startLinkedWorld(
  dir: string,
  options: LinkedWorldOptions = {},
): Promise<LinkedWorld> {
  const admin = randomBytes(24).toString('hex');
  const coordinator: RunningCoordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: join(dir, 'coordinator.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken: admin,
      dataDir: join(dir, 'coordinator'),
      ...options.coordinator,
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
    const { netns } = options;
    agent = await startAgent(
      testAgentConfig(
        join(dir, 'agent'),
        { MVM_NETWORK: netns === undefined ? 'off' : 'on', ...options.agentEnv },
        {
          coordinator: coordinator.url,
          token: admin,
          node: 'n1',
          heartbeatMs: 1_000,
          ...(netns === undefined ? {} : { netns }),
        },
      ),
      netns === undefined
        ? { logger: agentLogger, vmm: tcgVmm(), cgroups: null, network: null, capacity }
        : { logger: agentLogger, vmm: tcgVmm(netns), cgroups: null, capacity },
    );
    const linked = agent;
    await until('the tunnel', () => linked.link?.tunnel.connected || undefined, 60_000);
  } catch (error) {
    await agent?.close();
    await coordinator.close();
    throw error;
  }
  const running = agent;
  const mvm = cliAt(coordinator.url, admin);
  const ok = async (argv: readonly string[]): Promise<string> => {
    const run = await mvm(argv);
    if (run.code !== 0) throw new Error(`mvm ${argv.join(' ')}: exit ${run.code}\n${run.stderr}`);
    return run.stdout.toString();
  };
  const instances = async (tenant: string) =>
    (await api.call('listInstances', { query: { tenant } })).sort((a, b) =>
      a.id.localeCompare(b.id),
    );
  const close = async () => {
    await running.runtime.destroyAll().catch(() => undefined);
    await running.close();
    await coordinator.close();
  };
  return {
    api,
    agent: running,
    mvm,
    ok,
    instances,
    agentProblems: () => problemsIn(agentLog),
    close,
  };
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
