import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { AgentConfig, ReconcileStep } from '../../agent/start-agent.ts';
import { InternalError, isMvmError } from '../../core/errors.ts';
import type { InstanceView } from '../../contract/resources.ts';
import { createApiClient, type ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { ServeSettings } from '../../coordinator/serve.ts';
import { dashboardUrl } from '../views/connect-views.ts';

export interface QuickstartSizes {
  running: number;
  warm: number;
  sleeping: number;
}

export interface QuickstartOptions {
  settings: ServeSettings;
  sizes: QuickstartSizes;
  node: { id: string; hostname: string; vcpus: number; memMib: number };
  readToken(): Promise<string>;
  /**
   * The agent's config (the operator's flags, env and file) following the embedded coordinator
   * at `link` as node `link.nodeId` with its admin token.
   */
  agentConfig(link: {
    coordinatorUrl: string;
    token: string;
    nodeId: string;
  }): Readonly<AgentConfig>;
  print(line: string): void;
  /** The demo tenant's net id; default: the lowest free one. */
  demoNetId?: number;
  /** Serve until this resolves; undefined = return once converged. */
  untilShutdown: (() => Promise<string>) | undefined;
}

export interface QuickstartResult {
  alreadyRunning: boolean;
  coordinatorUrl: string;
  agentSocket?: string;
  tenant: string;
  instances: InstanceView[];
  steps: ReconcileStep[];
}

export const DEMO_TENANT = 'demo';

async function ignoreExisting(work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (isMvmError(error) && (error.code === 'already_exists' || error.code === 'conflict')) return;
    throw error;
  }
}

/** Creates the demo tenant and pools if absent and sets their counts (idempotent). */
async function ensureDemo(
  api: ApiClient,
  sizes: QuickstartSizes,
  print: (l: string) => void,
  netId?: number,
) {
  const exists = (await api.call('listTenants', {})).some((t) => t.id === DEMO_TENANT);
  if (!exists) {
    await api.call('createTenant', {
      body: { id: DEMO_TENANT, ...(netId !== undefined ? { netId } : {}) },
    });
  }
  print(`tenant '${DEMO_TENANT}' ${exists ? 'exists' : 'created'}`);
  // No image source: the demo pools boot each node's dev image.
  const pool = { vcpus: 1, memMib: 256, dataDiskMib: 64 };
  await ignoreExisting(() =>
    api.call('createPool', {
      params: { tenant: DEMO_TENANT },
      body: { id: 'gateways', role: 'gateway', ...pool },
    }),
  );
  await ignoreExisting(() =>
    api.call('createPool', {
      params: { tenant: DEMO_TENANT },
      body: { id: 'workers', role: 'worker', ...pool },
    }),
  );
  await api.call('scalePool', {
    params: { tenant: DEMO_TENANT, pool: 'gateways' },
    body: { running: 1, warm: 0, sleeping: 0 },
  });
  await api.call('scalePool', { params: { tenant: DEMO_TENANT, pool: 'workers' }, body: sizes });
  print(
    `pools: gateways (1 running), workers (${sizes.running} running, ${sizes.warm} warm, ${sizes.sleeping} sleeping)`,
  );
}

async function alreadyServing(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

function dashboardLine(url: string, dataDir: string): string {
  return `  dashboard: ${dashboardUrl(url)} (log in with the admin token in ${join(dataDir, 'admin.token')})`;
}

/**
 * The fleet-of-one: coordinator (embedded SQLite) and agent in this process, the demo tenant,
 * and one converge pass that boots real microVMs. Running it again changes nothing.
 */
export async function runQuickstart(options: QuickstartOptions): Promise<QuickstartResult> {
  const { settings, print } = options;
  const url = `http://${settings.listen}`;
  if (await alreadyServing(url)) {
    print(`a coordinator already answers at ${url}; leaving it as it is`);
    print(`look at it with: mvm instance list --tenant ${DEMO_TENANT}`);
    print(dashboardLine(url, settings.dataDir));
    return {
      alreadyRunning: true,
      coordinatorUrl: url,
      tenant: DEMO_TENANT,
      instances: [],
      steps: [],
    };
  }
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  print(
    `starting the coordinator (store: ${settings.databaseUrl}, logs: ${join(settings.dataDir, 'coordinator.log')}) ...`,
  );
  const { serveCoordinator } = await import('../../coordinator/serve.ts');
  const coordinator = await serveCoordinator(settings, {
    logger: pino(
      { name: 'mvm-coordinator' },
      pino.destination({ dest: join(settings.dataDir, 'coordinator.log'), mode: 0o600 }),
    ),
  });
  const closers: Array<() => Promise<void>> = [() => coordinator.close()];
  try {
    const token = await options.readToken();
    const api = createApiClient({ baseUrl: coordinator.url, token });
    const { id, hostname, vcpus, memMib } = options.node;
    const capacity = { vcpus, memMib, diskGib: 100 };
    // Registered before the agent starts, so its first heartbeat already finds the node.
    await api.call('registerNode', {
      params: { node: id },
      body: { hostname, arch: process.arch === 'x64' ? 'x86_64' : process.arch, capacity },
    });
    print(`node '${id}' registered (${vcpus} vCPU with 4:1 overcommit, ${memMib} MiB)`);
    print(`starting the agent (logs: ${join(settings.dataDir, 'agent.log')}) ...`);
    const { startAgent } = await import('../../agent/start-agent.ts');
    const agent = await startAgent(
      // Its coordinator is in this process: while the agent is down nothing can re-place its
      // instances, so there is nothing for a fence watchdog to guard against (docs/faults.md).
      {
        ...options.agentConfig({ coordinatorUrl: coordinator.url, token, nodeId: id }),
        fenceWatchdog: false,
      },
      {
        logger: pino(
          { name: 'mvm-agent' },
          pino.destination({ dest: join(settings.dataDir, 'agent.log'), mode: 0o600 }),
        ),
        // Like any node's agent, this one heartbeats (or its node would be declared lost), with
        // the registered capacity: the quickstart's overcommit, not the host's own.
        capacity,
        follow: false,
      },
    );
    closers.unshift(() => agent.close());
    const link = agent.link;
    if (!link) throw new InternalError('the quickstart agent did not link to its coordinator');
    await ensureDemo(api, options.sizes, print, options.demoNetId);
    print(
      'booting microVMs (the first run builds the dev image; under TCG each boot takes seconds) ...',
    );
    const steps = await link.convergeOnce((s) =>
      print(`  ${s.instance}: ${s.status}${s.error ? ` (${s.error})` : ''}`),
    );
    const instances = await api.call('listInstances', { query: { tenant: DEMO_TENANT } });
    print('');
    print(`fleet-of-one ready: coordinator ${coordinator.url}, agent ${agent.socket}`);
    print(dashboardLine(coordinator.url, settings.dataDir));
    if (!options.untilShutdown) {
      // --exit: the coordinator and agent stop with this command; the VMs keep running.
      print('  the coordinator stops now (--exit); `mvm quickstart` serves it again, adopting');
      print('  these VMs, and while it serves:');
    }
    print(`  mvm instance list --tenant ${DEMO_TENANT}          # instances, statuses, IPs`);
    print(`  mvm pool scale ${DEMO_TENANT}/workers --running 2   # change intent`);
    print(`  mvm events ${DEMO_TENANT} --last 10                 # audit trail`);
    const result = {
      alreadyRunning: false,
      coordinatorUrl: coordinator.url,
      agentSocket: agent.socket,
      tenant: DEMO_TENANT,
      instances,
      steps,
    };
    if (options.untilShutdown) {
      // From here on the agent follows the coordinator like any node's: every change of intent
      // (pool scale, instance actions) reaches the VMs through the signed document watch.
      link.follow();
      print('serving until Ctrl-C (microVMs keep running after that; the next start adopts them)');
      await options.untilShutdown();
    }
    return result;
  } finally {
    for (const close of closers) await close();
  }
}
