import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { buildDevImage } from '../drivers/dev-image/build-dev-image.ts';
import { Ext4Drives } from '../drivers/drives/ext4-drives.ts';
import { NetnsProcessRunner } from '../drivers/process/netns-process-runner.ts';
import type { Logger } from '../ports/logger.ts';
import type { Cgroups } from '../ports/cgroups.ts';
import type { NetworkDriver } from '../ports/network.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import type { Vmm } from '../ports/vmm.ts';
import { devImageOptions } from './agent-config.ts';
import type { AgentConfig } from './agent-config.ts';
import { loadCgroups } from './load-cgroups.ts';
import { AgentMetrics } from './metrics/agent-metrics.ts';
import { VmCounterProbe } from '../drivers/metrics/vm-counters.ts';
import { loadNetwork } from './load-network.ts';
import { loadVmm } from './load-vmm.ts';
import { faultHook } from './fault-hook.ts';
import { recover } from './recover.ts';
import type { RecoveryReport } from './recover.ts';
import { DEFAULT_TIMEOUTS } from './runtime/deps.ts';
import { DEFAULT_WARM_RECLAIM } from './runtime/warm-reclaim.ts';
import type { RuntimeDeps, RuntimeTimeouts } from './runtime/deps.ts';
import { GuestLinks } from './runtime/guest-links.ts';
import { vmIdentities } from './runtime/identities.ts';
import { devImageSource, revisionImageSource } from './runtime/image-source.ts';
import type { ImageSource } from './runtime/image-source.ts';
import { InstanceRuntime } from './runtime/instance-runtime.ts';
import { agentLayout } from './runtime/layout.ts';
import type { SecretSource } from './runtime/secret-source.ts';
import { privateDir } from '../drivers/fs/private-files.ts';
import type { ApiClient } from '../drivers/coordinator-api/api-client.ts';
import { RevisionCache } from './artifacts/revision-cache.ts';
import { openAgentDb } from './state/open-agent-db.ts';
import { BaseStore } from './clones/base-store.ts';
import { CloneBases } from './clones/clone-bases.ts';

/** What tests and benchmarks put in place of the configured drivers; never settings. */
export interface RuntimeSeams {
  logger?: Logger;
  /** Default: the configured driver (see load-vmm.ts). */
  vmm?: Vmm;
  /** null: no cgroups; default: cgroup v2 when mounted. */
  cgroups?: Cgroups | null;
  /** null: tenant networking off; default: the Linux driver when configured and root. */
  network?: NetworkDriver | null;
  /** null: no metadata endpoint; default: 169.254.169.254:80 in the root namespace. */
  metadata?: { ip: string; port: number } | null;
  images?: ImageSource;
  /** Where built revisions are fetched from; default: the agent's own coordinator link. */
  coordinator?: { api: ApiClient; nodeId: string };
  timeouts?: Partial<RuntimeTimeouts>;
}

export interface BuiltRuntime {
  runtime: InstanceRuntime;
  deps: RuntimeDeps;
  recovery: RecoveryReport;
  close(): Promise<void>;
}

/** The instance runtime and everything it acts through, after recovery (adopt + orphans). */
export async function buildRuntime(
  config: Readonly<AgentConfig>,
  seams: RuntimeSeams & {
    logger: Logger;
    runner: ProcessRunner;
    underlayIp?: string;
    secrets?: SecretSource;
  },
): Promise<BuiltRuntime> {
  const { logger, runner } = seams;
  const layout = {
    ...agentLayout(config.dataDir, config.secretsDir),
    socket: config.socket,
    cacheDir: config.cacheDir,
  };
  // Instance secrets, drives and snapshots live below it: its owner's only, also when older.
  const tightened = privateDir(layout.dataDir);
  if (tightened) logger.warn({ ...tightened }, 'agent data dir was open to others; tightened it');
  await mkdir(layout.vmsDir, { recursive: true, mode: 0o700 });
  // A namespaced agent's VMMs must open their taps in that namespace too.
  const vmmRunner = config.netns ? new NetnsProcessRunner(runner, config.netns) : runner;
  const vmm =
    seams.vmm ?? (await loadVmm(config, { runner: vmmRunner, hostRunner: runner, logger }));
  const db = await openAgentDb(layout.dbFile, logger);
  const cgroups = seams.cgroups === undefined ? await loadCgroups(logger) : seams.cgroups;
  const network = loadNetwork(
    {
      enabled: config.network,
      ...(seams.network !== undefined ? { driver: seams.network } : {}),
      ...(seams.metadata !== undefined ? { metadata: seams.metadata } : {}),
      ...(config.netns !== undefined ? { netns: config.netns } : {}),
      ...(seams.underlayIp !== undefined ? { underlayIp: seams.underlayIp } : {}),
    },
    { runner, vms: db.vms, logger },
  );
  const image = devImageOptions(config);
  const revisions = new RevisionCache({
    root: join(layout.dataDir, 'artifacts'),
    logger,
    ...(seams.coordinator ? { coordinator: seams.coordinator } : {}),
  });
  const deps: RuntimeDeps = {
    vmm,
    drives: new Ext4Drives({ runner, logger }),
    ...(cgroups ? { cgroups } : {}),
    images:
      seams.images ??
      revisionImageSource(
        devImageSource(() =>
          buildDevImage({ ...image, runner, logger, kernel: { ...image.kernel, logger } }),
        ),
        revisions,
      ),
    revisions,
    clock: systemClock,
    logger,
    vms: db.vms,
    runner,
    identities: vmIdentities(db.identities, config.confinement.uidBase),
    guests: new GuestLinks((await vmm.capabilities()).guestChannel, logger),
    layout,
    timeouts: { ...DEFAULT_TIMEOUTS, ...seams.timeouts },
    ...(network ? { network } : {}),
    ...(seams.secrets ? { secrets: seams.secrets } : {}),
  };
  if (config.warmReclaim) deps.warmReclaim = DEFAULT_WARM_RECLAIM;
  if (config.clones) {
    deps.clones = cloneBases(config, layout.dataDir, runner, logger);
    await deps.clones.store.removeStaging();
  }
  const fault = faultHook(config.fault, logger);
  if (fault) deps.fault = fault;
  deps.metrics = new AgentMetrics(vmm.name, {
    list: () => db.vms.list(),
    probe: new VmCounterProbe(cgroups ? { cgroups } : {}),
  });
  const runtime = new InstanceRuntime(deps);
  const close = async (): Promise<void> => {
    deps.guests.closeAll();
    await network?.close();
    await db.close();
  };
  const recovery = await recover(deps, runtime).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  return { runtime, deps, recovery, close };
}

/** Bases under `<data-dir>/bases`, keyed with the configured VMM binary's version. */
function cloneBases(
  config: Readonly<AgentConfig>,
  dataDir: string,
  runner: ProcessRunner,
  logger: Logger,
): CloneBases {
  const binary = config.vmm === 'qemu' ? config.qemu.binary : config.firecracker.binary;
  return new CloneBases(new BaseStore(join(dataDir, 'bases'), logger), async () => {
    const out = await runner.run(binary, ['--version']);
    return `${config.vmm} ${out.stdout.split('\n')[0]?.trim() ?? ''}`;
  });
}
