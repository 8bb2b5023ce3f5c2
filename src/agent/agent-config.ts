import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AGENT_SOCKET_NAME } from '../contract/agent-api.ts';
import { ValidationError } from '../core/errors.ts';
import { sampleToleranceOf, type SampleTolerance } from '../core/sample-tolerance.ts';
import type { FaultPoint } from '../core/fault-points.ts';
import {
  configFileLocation,
  nonEmpty,
  readConfigJson,
  readTextFile,
  stackLayers,
} from '../drivers/fs/config-file.ts';
import type { ReadText } from '../drivers/fs/config-file.ts';
import { agentDefaults, agentSettings, agentSettingsSchema } from './agent-settings.ts';
import type {
  AccelChoice,
  AgentFlags,
  AgentSettingValues,
  SettingKey,
  SettingSource,
  VmmChoice,
} from './agent-settings.ts';

export type { AccelChoice, AgentFlags, VmmChoice } from './agent-settings.ts';
export { vmmChoices } from './agent-settings.ts';

/** The agent's settings, read once: defaults ← config file ← env ← flags, validated, frozen. */
export interface AgentConfig {
  dataDir: string;
  /** The local API's unix socket (mode 0600). */
  socket: string;
  /** Kernels, dev images and the accelerator verdict. */
  cacheDir: string;
  /**
   * Where secrets drive images are built (in clear: the VMM reads them), outside the data dir
   * and meant to be tmpfs, so secret values never reach persistent disk.
   */
  secretsDir: string;
  vmm: VmmChoice;
  /**
   * balloon: boot with the free-page-reporting balloon (default on); tcgCacheMib: TCG's
   * translation cache, undefined for the driver's default.
   */
  qemu: { binary: string; accel: AccelChoice; balloon: boolean; tcgCacheMib?: number };
  /** The jailer runs Firecracker confined; default: `jailer` beside the firecracker binary. */
  firecracker: { binary: string; jailer: string };
  /**
   * Every VMM confined (QEMU: -sandbox, -runas, -chroot; Firecracker: the jailer), each
   * instance as its own uid/gid = uidBase + slot. Off only on purpose (MVM_CONFINE=off).
   */
  confinement: { enabled: boolean; uidBase: number };
  /**
   * A process that outlives the agent and pauses its re-placeable instances once the agent is
   * gone and its lease ran out (agent/lease/fence-watchdog.ts); only with a coordinator.
   */
  fenceWatchdog: boolean;
  /** Tenant networking wanted (it is still off when the agent is not root). */
  network: boolean;
  /** New instances restored from their pool's base snapshot (`MVM_CLONES=on`, docs/clones.md). */
  clones: boolean;
  /** The guest drops its caches before each warm (`MVM_WARM_RECLAIM=on`, docs/density.md). */
  warmReclaim: boolean;
  /**
   * A wake on connect the coordinator does not answer is admitted by the node's own count of
   * its room (`--wake-without-coordinator`, `MVM_WAKE_WITHOUT_COORDINATOR`, default on).
   */
  wakeWithoutCoordinator: boolean;
  /** A pool base no instance of its pool revision used this long is dropped (`MVM_BASE_GRACE_SECS`). */
  baseGraceMs: number;
  /** Run the networking and the VMMs in this namespace instead of the root one. */
  netns?: string;
  /** This node's VXLAN source; default: the one recorded when the host joined. */
  underlayIp?: string;
  /** Where Prometheus scrapes the agent's /metrics over HTTP; absent: only on the local socket. */
  metricsListen?: { host: string; port: number };
  /** Where published ports bind (`MVM_PUBLISH_ADDRESS`); absent: 127.0.0.1. */
  publishAddress?: string;
  coordinator: CoordinatorSettings;
  /** `executor`: dev images are worker images (Node and the job executor; docs/jobs.md). */
  devImage: { kernelPackage?: string; busybox: string; guestCc: string; executor: boolean };
  /** The fault hook's point (`MVM_FAULT`, tests only): the agent SIGKILLs itself there. */
  fault?: FaultPoint;
  /** The config file the values came from, when one was read. */
  configFile?: string;
}

export interface CoordinatorSettings {
  /** Used with a token; a joined host takes its coordinator from its identity. */
  url: string;
  /** Used only with `nodeId` (development); a joined host speaks mTLS. */
  token?: string;
  /** Follow the coordinator as this node with the token; else as the joined identity, if any. */
  nodeId?: string;
  /** Refuse unsigned documents; needs a joined host and `trustedKeyFile`. */
  production: boolean;
  /** PEM file of the coordinator's document-signing key. */
  trustedKeyFile?: string;
  heartbeatMs: number;
  /**
   * How far an instance's CPU, memory and disk figures may drift before a delta heartbeat
   * resends its sample (the agent's `--heartbeat-*-tolerance` settings, docs/scale.md).
   */
  sampleTolerance: SampleTolerance;
  /**
   * vCPUs this node offers the scheduler instead of the host's own (an operator's overcommit,
   * as the quickstart's); memory and disk stay measured.
   */
  vcpus?: number;
  /** Documents signed longer ago than this are refused: replays of old ones. */
  maxDocumentAgeMs: number;
  /** An instance handed over here is kept from the reconciler this long (`MVM_MOVE_HOLD_SECS`). */
  moveHoldMs: number;
  /** Gateway guests' commands in their tenant's workers (`MVM_WORKER_EXEC=on`, docs/openclaw.md). */
  workerExec?: boolean;
}

export interface AgentConfigSources {
  flags: AgentFlags;
  env: Readonly<Record<string, string | undefined>>;
  readText?: ReadText;
  cwd?: string;
  /** Read when neither --config nor MVM_CONFIG names a file, and only if it exists. */
  defaultConfigFile?: string;
}

type Value = string | number | boolean;
interface Setting {
  value: Value;
  from: string;
}
type Layer = Partial<Record<SettingKey, Setting>>;

const table: Readonly<Record<SettingKey, SettingSource>> = agentSettings;
const keys = Object.keys(table) as SettingKey[];

/** Loads the agent's settings; throws one ValidationError listing every problem. */
export function loadAgentConfig(sources: AgentConfigSources): Readonly<AgentConfig> {
  const read = sources.readText ?? readTextFile;
  const problems: string[] = [];
  const file = fileLayer(sources, read, problems);
  const merged: Layer = stackLayers({
    defaults: defaultsLayer(),
    file: file.layer,
    env: envLayer(sources.env),
    flags: flagLayer(sources.flags),
  });
  const values = validate(merged, problems);
  const config = toConfig(values, sources.cwd ?? process.cwd(), read, sources.env);
  return deepFreeze(file.path === undefined ? config : { ...config, configFile: file.path });
}

function defaultsLayer(): Layer {
  const layer: Layer = {};
  for (const key of keys) {
    const value = agentDefaults[key];
    if (value !== undefined) layer[key] = { value, from: 'default' };
  }
  return layer;
}

function envLayer(env: AgentConfigSources['env']): Layer {
  const layer: Layer = {};
  for (const key of keys) {
    const name = table[key].env;
    const value = name === undefined ? undefined : nonEmpty(env[name]);
    if (name !== undefined && value !== undefined) layer[key] = { value, from: `env ${name}` };
  }
  return layer;
}

function flagLayer(flags: AgentFlags): Layer {
  const layer: Layer = {};
  for (const key of keys) {
    const name = table[key].flag;
    const value = name === undefined ? undefined : flags[name];
    if (name !== undefined && value !== undefined) {
      layer[key] = {
        value,
        from: `flag --${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      };
    }
  }
  return layer;
}

/** Top-level dataDir/coordinatorUrl/token (shared with the CLI) and the `agent` section. */
function fileLayer(
  sources: AgentConfigSources,
  read: ReadText,
  problems: string[],
): { layer: Layer; path?: string } {
  const where = configFileLocation(sources.flags.config, sources.env, sources.defaultConfigFile);
  const file = readConfigJson(where, read, problems);
  if (!file.found) return { layer: {} };
  const json = isObject(file.json) ? file.json : {};
  const section = json['agent'] ?? {};
  if (!isObject(section)) {
    problems.push(`config file ${where.path} at 'agent': must be an object of agent settings`);
    return { layer: {}, path: where.path };
  }
  problems.push(...unknownSettings(section, where.path));
  const from = `file ${where.path}`;
  const layer: Layer = {};
  for (const key of keys) {
    const at = table[key].file;
    const value = at.startsWith('agent.') ? section[at.slice('agent.'.length)] : json[at];
    if (value !== undefined) layer[key] = { value: value as Value, from };
  }
  return { layer, path: where.path };
}

function unknownSettings(section: Record<string, unknown>, path: string): string[] {
  const known = new Set(keys.map((key) => table[key].file));
  return Object.keys(section)
    .filter((name) => !known.has(`agent.${name}`))
    .map((name) => `config file ${path} at 'agent.${name}': not an agent setting`);
}

function validate(merged: Layer, problems: string[]): AgentSettingValues {
  const raw = Object.fromEntries(keys.map((key) => [key, merged[key]?.value]));
  const result = agentSettingsSchema.safeParse(raw);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => problemOf(issue, merged)));
  }
  if (!result.success || problems.length > 0) {
    throw new ValidationError(
      `the agent configuration has ${problems.length} problem(s); fix them and retry`,
      problems,
    );
  }
  return result.data;
}

function problemOf(issue: { path: readonly PropertyKey[]; message: string }, merged: Layer) {
  const key = String(issue.path[0]) as SettingKey;
  const setting = merged[key];
  const shown = key === 'token' ? '(hidden)' : `'${String(setting?.value)}'`;
  return setting === undefined
    ? `${key}: ${issue.message}`
    : `${key} ${shown} (from ${setting.from}): ${issue.message}`;
}

/**
 * tmpfs by convention: /run for root (the agent on a host), the user's runtime dir (or a
 * private temp dir) for anyone else.
 */
function defaultSecretsDir(env: AgentConfigSources['env']): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/mvm/secrets';
  const runtime = nonEmpty(env['XDG_RUNTIME_DIR']);
  return runtime !== undefined
    ? join(runtime, 'mvm', 'secrets')
    : join(tmpdir(), `mvm-${uid}`, 'secrets');
}

function toConfig(
  values: AgentSettingValues,
  cwd: string,
  read: ReadText,
  env: AgentConfigSources['env'],
): AgentConfig {
  const path = (value: string): string => resolve(cwd, value);
  const dataDir = path(values.dataDir);
  const token = values.token ?? read(join(dataDir, 'admin.token'))?.trim();
  return {
    dataDir,
    socket: path(values.socket ?? join(dataDir, AGENT_SOCKET_NAME)),
    cacheDir: path(values.cacheDir),
    secretsDir: path(values.secretsDir ?? defaultSecretsDir(env)),
    vmm: values.vmm,
    qemu: {
      binary: values.qemuBinary,
      accel: values.qemuAccel,
      balloon: values.qemuBalloon === 'on',
      ...(values.qemuTcgCacheMib === undefined ? {} : { tcgCacheMib: values.qemuTcgCacheMib }),
    },
    firecracker: {
      binary: values.firecrackerBin,
      jailer: values.jailerBin ?? jailerBeside(values.firecrackerBin),
    },
    confinement: { enabled: values.confine === 'on', uidBase: values.uidBase },
    fenceWatchdog: values.fenceWatchdog === 'on',
    network: values.network === 'on',
    clones: values.clones === 'on',
    warmReclaim: values.warmReclaim === 'on',
    wakeWithoutCoordinator: values.wakeWithoutCoordinator === 'on',
    baseGraceMs: values.baseGraceSecs * 1000,
    ...(values.netns !== undefined ? { netns: values.netns } : {}),
    ...(values.underlayIp !== undefined ? { underlayIp: values.underlayIp } : {}),
    ...(values.metricsListen !== undefined
      ? { metricsListen: hostPort(values.metricsListen) }
      : {}),
    ...(values.publishAddress !== undefined ? { publishAddress: values.publishAddress } : {}),
    coordinator: {
      url: values.coordinatorUrl,
      ...(token ? { token } : {}),
      ...(values.nodeId !== undefined ? { nodeId: values.nodeId } : {}),
      production: values.production,
      ...(values.trustedKey !== undefined ? { trustedKeyFile: path(values.trustedKey) } : {}),
      heartbeatMs: values.heartbeatMs,
      sampleTolerance: sampleToleranceOf({
        cpuPermille: values.heartbeatCpuTolerance,
        rssKib: values.heartbeatRssTolerance,
        diskKib: values.heartbeatDiskTolerance,
      }),
      ...(values.vcpus !== undefined ? { vcpus: values.vcpus } : {}),
      maxDocumentAgeMs: values.maxDocumentAgeSecs * 1000,
      moveHoldMs: values.moveHoldSecs * 1000,
      ...(values.workerExec === 'on' ? { workerExec: true } : {}),
    },
    devImage: {
      ...(values.devKernelPackage !== undefined ? { kernelPackage: values.devKernelPackage } : {}),
      busybox: path(values.busybox),
      // A command name (looked up on PATH) or a path: kept as given.
      guestCc: values.guestCc,
      executor: values.workerImage === 'on',
    },
    ...(values.fault !== undefined ? { fault: values.fault } : {}),
  };
}

/** `/opt/fc/firecracker` -> `/opt/fc/jailer`; a bare command name -> `jailer` on PATH. */
function jailerBeside(firecrackerBin: string): string {
  return firecrackerBin.includes('/') ? join(dirname(firecrackerBin), 'jailer') : 'jailer';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const inner of Object.values(value)) {
    if (typeof inner === 'object' && inner !== null) deepFreeze(inner);
  }
  return Object.freeze(value);
}

/** The dev image builder's inputs as configured (shared by the agent and `mvm image build`). */
export function devImageOptions(config: Pick<AgentConfig, 'cacheDir' | 'devImage'>): {
  cacheDir: string;
  busyboxPath: string;
  guestCc: string;
  kernel: { packageName?: string };
  executor?: Record<string, never>;
} {
  const { kernelPackage, busybox, guestCc, executor } = config.devImage;
  return {
    cacheDir: config.cacheDir,
    busyboxPath: busybox,
    guestCc,
    ...(executor ? { executor: {} } : {}),
    kernel: kernelPackage !== undefined ? { packageName: kernelPackage } : {},
  };
}

/** ADDRESS:PORT as validated by the settings (an IPv6 address in brackets). */
function hostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  return {
    host: value.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(value.slice(colon + 1)),
  };
}
