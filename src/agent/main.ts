/**
 * The host agent's composition root: local SQLite, the VMM driver, drives, cgroups, the
 * instance runtime, recovery (adopt + orphans), and the local API on `<dataDir>/agent.sock`.
 * Run directly (`node --import tsx src/agent/main.ts --data-dir DIR`) or via `mvm agent serve`.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import pino from 'pino';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { buildDevImage } from '../drivers/dev-image/build-dev-image.ts';
import { Ext4Drives } from '../drivers/drives/ext4-drives.ts';
import { NetnsProcessRunner } from '../drivers/process/netns-process-runner.ts';
import { privateDir } from '../drivers/fs/private-files.ts';
import { NodeProcessRunner } from '../drivers/process/node-process-runner.ts';
import type { DriverLogger } from '../drivers/process/logger.ts';
import type { Cgroups } from '../ports/cgroups.ts';
import type { Vmm } from '../ports/vmm.ts';
import { createAgentApp } from './api.ts';
import { loadCgroups } from './load-cgroups.ts';
import { loadNetwork } from './load-network.ts';
import { loadVmm } from './load-vmm.ts';
import type { VmmSelection } from './load-vmm.ts';
import type { NetworkChoice } from './load-network.ts';
import { recover } from './recover.ts';
import type { RecoveryReport } from './recover.ts';
import { DEFAULT_TIMEOUTS } from './runtime/deps.ts';
import type { RuntimeDeps, RuntimeTimeouts } from './runtime/deps.ts';
import { GuestLinks } from './runtime/guest-links.ts';
import { devImageSource } from './runtime/image-source.ts';
import type { ImageSource } from './runtime/image-source.ts';
import { InstanceRuntime } from './runtime/instance-runtime.ts';
import { agentLayout } from './runtime/layout.ts';
import { openAgentDb } from './state/open-agent-db.ts';

/** Tenant networking (NetworkChoice): on by default; `netns` also runs the VMMs there. */
export interface AgentOptions extends NetworkChoice, VmmSelection {
  dataDir: string;
  logger?: DriverLogger;
  /** Injected in tests and benchmarks; default: `vmmDriver` (see load-vmm.ts). */
  vmm?: Vmm;
  cgroups?: Cgroups | null;
  images?: ImageSource;
  timeouts?: Partial<RuntimeTimeouts>;
}

export interface RunningAgent {
  socket: string;
  runtime: InstanceRuntime;
  deps: RuntimeDeps;
  recovery: RecoveryReport;
  close(): Promise<void>;
}

/** Builds the agent without serving it: the runtime after recovery, ready to take requests. */
export async function createAgent(options: AgentOptions): Promise<Omit<RunningAgent, 'socket'>> {
  const layout = agentLayout(resolve(options.dataDir));
  const logger = options.logger ?? pino({ name: 'mvm-agent' }, pino.destination(2));
  // Instance secrets, drives and snapshots live below it: its owner's only, also when older.
  const tightened = privateDir(layout.dataDir);
  if (tightened) logger.warn({ ...tightened }, 'agent data dir was open to others; tightened it');
  await mkdir(layout.vmsDir, { recursive: true, mode: 0o700 });
  const runner = new NodeProcessRunner({ logger });
  // A namespaced agent's VMMs must open their taps in that namespace too.
  const vmmRunner = options.netns ? new NetnsProcessRunner(runner, options.netns) : runner;
  const vmm = options.vmm ?? (await loadVmm(options, { runner: vmmRunner, logger }));
  const db = await openAgentDb(layout.dbFile, logger);
  const cgroups = options.cgroups === undefined ? await loadCgroups(logger) : options.cgroups;
  const network = loadNetwork(options, { runner, vms: db.vms, logger });
  const deps: RuntimeDeps = {
    vmm,
    drives: new Ext4Drives({ runner, logger }),
    ...(cgroups ? { cgroups } : {}),
    images: options.images ?? devImageSource(() => buildDevImage({ runner, logger })),
    clock: systemClock,
    logger,
    vms: db.vms,
    guests: new GuestLinks((await vmm.capabilities()).guestChannel, logger),
    layout,
    timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
    ...(network ? { network } : {}),
  };
  const runtime = new InstanceRuntime(deps);
  const recovery = await recover(deps, runtime);
  const close = async (): Promise<void> => {
    deps.guests.closeAll();
    await network?.close();
    await db.close();
  };
  return { runtime, deps, recovery, close };
}

/** The agent serving its local API on a unix socket (mode 0600: root only). */
export async function serveAgent(options: AgentOptions): Promise<RunningAgent> {
  const agent = await createAgent(options);
  const socket = agentLayout(resolve(options.dataDir)).socket;
  const app = createAgentApp(agent.runtime, agent.deps, agent.deps.logger);
  await rm(socket, { force: true });
  const server = createServer(getRequestListener(app.fetch));
  await listen(server, socket);
  await chmod(socket, 0o600);
  agent.deps.logger.info({ socket, recovery: agent.recovery }, 'agent listening');
  return {
    ...agent,
    socket,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await agent.close();
      await rm(socket, { force: true });
    },
  };
}

function listen(server: Server, socket: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(socket, () => done());
  });
}

function dataDirFromArgv(argv: readonly string[]): string {
  const at = argv.indexOf('--data-dir');
  return argv[at + 1] ?? process.env['MVM_DATA_DIR'] ?? '/var/lib/mvm';
}

/** Direct entry: serve until SIGINT/SIGTERM (VMs keep running; a restart adopts them). */
async function runMain(): Promise<void> {
  const agent = await serveAgent({ dataDir: dataDirFromArgv(process.argv.slice(2)) });
  process.stdout.write(`mvm agent listening on ${agent.socket}\n`);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  agent.deps.logger.info({ signal }, 'agent stopping; VMs keep running');
  await agent.close();
}

const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  runMain().catch((error: unknown) => {
    process.stderr.write(
      `mvm agent failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}
