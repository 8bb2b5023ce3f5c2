/**
 * A whole fleet on one host: the coordinator and two agents as real processes, each in its
 * own network namespace, reached from the test through a unix-socket forwarder (coordinator)
 * and the agents' own unix sockets. `cleanup()` kills everything it started (agents,
 * coordinator, their QEMU guests), removes the guests' cgroups and the namespaces, even
 * after a partial start.
 */
import { mkdtemp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MVM_PREFIX } from '../../../src/agent/runtime/vm-key.ts';
import { HostCgroups } from '../../../src/drivers/cgroups/host-cgroups.ts';
import { fenceCgroupKey } from '../../../src/agent/lease/start-fence-watchdog.ts';
import { isAlive } from '../../../src/drivers/process/process-control.ts';
import { createApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import type { ApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import { NetLab } from '../../net/support/net-lab.ts';
import { killHard, startAgent, startCoordinator } from './fleet-processes.ts';
import type { FleetAgent, FleetProcess } from './fleet-processes.ts';
import { vmmPids } from './fleet-probes.ts';
import { buildFleetTopology, COORDINATOR_IP, NODE_IDS } from './fleet-topology.ts';
import type { FleetTopology, NodeId } from './fleet-topology.ts';
import { unixFetch } from './unix-fetch.ts';

const FORWARDER = join(import.meta.dirname, 'ns-forwarder.ts');
const PORT = 7070;

/** Timings other than the defaults (a partition test wants a short loss timeout). */
export interface FleetTimings {
  /** `coordinator serve --node-lost-after-ms` */
  nodeLostAfterMs?: number;
  /** `agent serve --heartbeat-ms` */
  heartbeatMs?: number;
}

export class FleetLab {
  readonly coordinatorUrl = `http://${COORDINATOR_IP}:${PORT}`;
  readonly agents: Partial<Record<NodeId, FleetAgent>> = {};
  readonly net: NetLab;
  coordinator: FleetProcess | undefined;
  private wiring: { topology: FleetTopology; api: ApiClient; token: string } | undefined;

  private constructor(
    readonly root: string,
    private readonly timings: FleetTimings,
  ) {
    this.net = new NetLab(root);
  }

  /** Only the directories: nothing to clean up yet if this throws. */
  static async create(timings: FleetTimings = {}): Promise<FleetLab> {
    const root = await mkdtemp(join(tmpdir(), 'mvm-2n-'));
    for (const dir of ['c', ...NODE_IDS]) await mkdir(join(root, dir), { mode: 0o700 });
    return new FleetLab(root, timings);
  }

  private get coordinatorArgs(): string[] {
    const lost = this.timings.nodeLostAfterMs;
    return lost === undefined ? [] : ['--node-lost-after-ms', String(lost)];
  }

  private get agentArgs(): string[] {
    const every = this.timings.heartbeatMs;
    return every === undefined ? [] : ['--heartbeat-ms', String(every)];
  }

  /** Namespaces and bridge, the coordinator, and the test's way in to its API. */
  async start(): Promise<void> {
    const topology = await buildFleetTopology(this.net);
    this.coordinator = await startCoordinator(
      topology.coordinatorNs,
      this.coordinatorDir,
      `${COORDINATOR_IP}:${PORT}`,
      this.coordinatorArgs,
    );
    const sock = join(this.root, 'coordinator.sock');
    const target = [sock, COORDINATOR_IP, String(PORT)];
    await this.net.start(topology.coordinatorNs, 'forwarder', FORWARDER, target);
    const token = (await readFile(join(this.coordinatorDir, 'admin.token'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: this.coordinatorUrl, token, fetch: unixFetch(sock) });
    this.wiring = { topology, api, token };
  }

  private get wired(): NonNullable<FleetLab['wiring']> {
    if (!this.wiring) throw new Error('the fleet lab was not started');
    return this.wiring;
  }

  get api(): ApiClient {
    return this.wired.api;
  }

  get topology(): FleetTopology {
    return this.wired.topology;
  }

  get coordinatorDir(): string {
    return join(this.root, 'c');
  }

  agentDir(node: NodeId): string {
    return join(this.root, node);
  }

  agent(node: NodeId): FleetAgent {
    const agent = this.agents[node];
    if (!agent) throw new Error(`agent ${node} is not running`);
    return agent;
  }

  async startCoordinator(): Promise<void> {
    const listen = `${COORDINATOR_IP}:${PORT}`;
    this.coordinator = await startCoordinator(
      this.topology.coordinatorNs,
      this.coordinatorDir,
      listen,
      this.coordinatorArgs,
    );
  }

  async killCoordinator(): Promise<void> {
    await killHard(this.coordinator);
    this.coordinator = undefined;
  }

  async startAgent(node: NodeId, env?: Readonly<Record<string, string>>): Promise<FleetAgent> {
    const agent = await startAgent({
      ...(env ? { env } : {}),
      ns: this.topology.nodeNs[node],
      node,
      dataDir: this.agentDir(node),
      coordinatorUrl: this.coordinatorUrl,
      token: this.wired.token,
      extra: this.agentArgs,
    });
    this.agents[node] = agent;
    return agent;
  }

  async killAgent(node: NodeId): Promise<void> {
    await killHard(this.agents[node]);
    delete this.agents[node];
  }

  /** The last lines of every process log, for a failure report. */
  async logTails(lines = 25): Promise<string> {
    const files = [
      join(this.coordinatorDir, 'coordinator.log'),
      ...NODE_IDS.map((n) => join(this.agentDir(n), 'agent.log')),
    ];
    const parts = await Promise.all(
      files.map(async (file) => {
        const text = await readFile(file, 'utf8').catch(() => '(no log)');
        return `--- ${file}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }),
    );
    return parts.join('\n');
  }

  async cleanup(): Promise<void> {
    for (const node of NODE_IDS) await this.killAgent(node).catch(() => undefined);
    await this.killCoordinator().catch(() => undefined);
    const cgroups = new HostCgroups();
    for (const node of NODE_IDS) {
      await endWatchdog(cgroups, this.agentDir(node));
      for (const pid of await vmmPids(this.agentDir(node))) process.kill(pid, 'SIGKILL');
      const keys = await readdir(join(this.agentDir(node), 'vms')).catch(() => [] as string[]);
      for (const key of keys.filter((k) => k.startsWith(MVM_PREFIX))) {
        await removeCgroup(cgroups, key);
      }
    }
    await this.net.cleanup();
    await rm(this.root, { recursive: true, force: true });
  }
}

/** The fence watchdog a killed agent left (agent/lease/fence-keeper.ts), and its cgroup. */
async function endWatchdog(cgroups: HostCgroups, dataDir: string): Promise<void> {
  const text = await readFile(join(dataDir, 'fence-watchdog.pid'), 'utf8').catch(() => '');
  const [pid, startTime] = text.trim().split(' ').map(Number);
  if (pid && (await isAlive(pid, startTime))) process.kill(pid, 'SIGKILL');
  await removeCgroup(cgroups, fenceCgroupKey(dataDir));
}

/** A just-killed VMM may still be leaving its cgroup: retry briefly, then give up quietly. */
async function removeCgroup(cgroups: HostCgroups, key: string): Promise<void> {
  await waitUntil(() => cgroups.remove(key).then(() => true), {
    clock: systemClock,
    timeoutMs: 2_000,
    intervalMs: 100,
    what: `cgroup ${key} removed`,
  }).catch(() => undefined);
}
