import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { isMvmError } from '../../core/errors.ts';
import type { NodeCapacity } from '../../core/model.ts';
import type { InstanceView } from '../../contract/resources.ts';
import { coordinatorReporter } from '../../agent/reconcile/coordinator-reporter.ts';
import { fetchVerifiedDocument } from '../../agent/reconcile/fetch-document.ts';
import { reconcileDocument, type ReconcileStep } from '../../agent/reconcile/reconcile-document.ts';
import { runAgentLoop } from '../../agent/reconcile/agent-loop.ts';
import { DesiredFileStore } from '../../agent/desired/desired-file-store.ts';
import { ActivityTracker } from '../../agent/activity/activity-tracker.ts';
import { sendHeartbeats } from '../../agent/heartbeat/send-heartbeats.ts';
import type { RunningAgent } from '../../agent/main.ts';
import { HostActivityProbe } from '../../drivers/activity/host-activity-probe.ts';
import { systemClock } from '../../drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { DriverLogger } from '../../drivers/process/logger.ts';
import type { ServeSettings } from '../../coordinator/serve.ts';

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
  const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 64 };
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

/** Sends the node's heartbeats until the returned stop function is called. */
function beatFor(
  api: ApiClient,
  node: { id: string; capacity: NodeCapacity },
  agent: RunningAgent,
  dataDir: string,
  logger: DriverLogger,
): () => Promise<void> {
  const abort = new AbortController();
  const { cgroups } = agent.deps;
  const beats = sendHeartbeats({
    api,
    nodeId: node.id,
    // The registered capacity carries the quickstart's overcommit; the host's own would not.
    capacity: node.capacity,
    runtime: agent.runtime,
    dataDir,
    tracker: new ActivityTracker(new HostActivityProbe(cgroups ? { cgroups } : {})),
    clock: systemClock,
    signal: abort.signal,
    logger,
  });
  return async () => {
    abort.abort();
    await beats;
  };
}

/** Runs the agent's watch-and-reconcile loop until the returned stop function is called. */
function watchFleet(fleet: {
  coordinatorUrl: string;
  token: string;
  nodeId: string;
  trustedKeys: string[];
  agent: RunningAgent;
  api: ApiClient;
  dataDir: string;
  logger: DriverLogger;
}): () => Promise<void> {
  const abort = new AbortController();
  const loop = runAgentLoop({
    coordinatorUrl: fleet.coordinatorUrl,
    token: fleet.token,
    nodeId: fleet.nodeId,
    trustedKeys: fleet.trustedKeys,
    production: false,
    runtime: fleet.agent.runtime,
    ...(fleet.agent.deps.network ? { network: fleet.agent.deps.network } : {}),
    store: new DesiredFileStore(join(fleet.dataDir, 'desired.json')),
    reporter: coordinatorReporter(fleet.api, fleet.nodeId, fleet.logger),
    clock: systemClock,
    signal: abort.signal,
    logger: fleet.logger,
  });
  return async () => {
    abort.abort();
    await loop.catch((error: unknown) => fleet.logger.error({ err: error }, 'agent loop ended'));
  };
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
    print(`starting the agent (logs: ${join(settings.dataDir, 'agent.log')}) ...`);
    const { serveAgent } = await import('../../agent/main.ts');
    const logger = pino(
      { name: 'mvm-agent' },
      pino.destination({ dest: join(settings.dataDir, 'agent.log'), mode: 0o600 }),
    );
    const agent = await serveAgent({ dataDir: settings.dataDir, logger });
    closers.unshift(() => agent.close());
    const { id, hostname, vcpus, memMib } = options.node;
    const capacity = { vcpus, memMib, diskGib: 100 };
    await api.call('registerNode', {
      params: { node: id },
      body: { hostname, arch: process.arch === 'x64' ? 'x86_64' : process.arch, capacity },
    });
    print(`node '${id}' registered (${vcpus} vCPU with 4:1 overcommit, ${memMib} MiB)`);
    // Like any node's agent, this one heartbeats, or its node would be declared lost.
    closers.unshift(beatFor(api, { id, capacity }, agent, settings.dataDir, logger));
    await ensureDemo(api, options.sizes, print, options.demoNetId);
    print(
      'booting microVMs (the first run builds the dev image; under TCG each boot takes seconds) ...',
    );
    const signing = await api.call('getSigningKey', {});
    const { document } = await fetchVerifiedDocument(api, id, [signing.publicKeyPem]);
    const steps = await reconcileDocument({
      document,
      runtime: agent.runtime,
      reporter: coordinatorReporter(api, id, logger),
      logger,
      onStep: (s) => print(`  ${s.instance}: ${s.status}${s.error ? ` (${s.error})` : ''}`),
    });
    const instances = await api.call('listInstances', { query: { tenant: DEMO_TENANT } });
    print('');
    print(`fleet-of-one ready: coordinator ${coordinator.url}, agent ${agent.socket}`);
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
      closers.unshift(
        watchFleet({
          coordinatorUrl: coordinator.url,
          token,
          nodeId: id,
          trustedKeys: [signing.publicKeyPem],
          agent,
          api,
          dataDir: settings.dataDir,
          logger,
        }),
      );
      print('serving until Ctrl-C (microVMs keep running after that; the next start adopts them)');
      await options.untilShutdown();
    }
    return result;
  } finally {
    for (const close of closers) await close();
  }
}
