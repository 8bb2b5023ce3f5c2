import { z } from 'zod';
import { idSchema, underlayIpSchema } from '../contract/common.ts';
import { httpUrlSchema } from '../contract/common.ts';
import { DEFAULT_UID_BASE, IDENTITY_SLOTS } from '../core/vm-identity.ts';
import { FAULT_POINTS } from '../core/fault-points.ts';
import {
  DEFAULT_SAMPLE_TOLERANCE,
  formatGaugeTolerance,
  parseGaugeTolerance,
} from '../core/sample-tolerance.ts';

/**
 * Every setting the agent reads, declared once: where each comes from (flag, env, config
 * file) and what a valid value is. agent-config.ts layers and validates them.
 */
export const vmmChoices = ['qemu', 'firecracker'] as const;
export type VmmChoice = (typeof vmmChoices)[number];

export const accelChoices = ['auto', 'kvm', 'tcg'] as const;
export type AccelChoice = (typeof accelChoices)[number];

/** The flags the agent takes (global ones included); all optional, they win over env and file. */
export interface AgentFlags {
  config?: string;
  dataDir?: string;
  coordinator?: string;
  token?: string;
  vmm?: VmmChoice;
  node?: string;
  production?: boolean;
  trustedKey?: string;
  underlayIp?: string;
  heartbeatMs?: number;
  heartbeatCpuTolerance?: string;
  heartbeatRssTolerance?: string;
  heartbeatDiskTolerance?: string;
  vcpus?: number;
  netns?: string;
  cacheDir?: string;
  metricsListen?: string;
  wakeWithoutCoordinator?: 'on' | 'off';
}

export interface SettingSource {
  flag?: keyof AgentFlags;
  env?: string;
  /** Where it sits in the config file: top level (shared with the CLI) or `agent.<name>`. */
  file: string;
}

export const agentSettings = {
  dataDir: { flag: 'dataDir', env: 'MVM_DATA_DIR', file: 'dataDir' },
  socket: { env: 'MVM_AGENT_SOCKET', file: 'agent.socket' },
  cacheDir: { flag: 'cacheDir', env: 'MVM_CACHE_DIR', file: 'agent.cacheDir' },
  vmm: { flag: 'vmm', env: 'MVM_VMM', file: 'agent.vmm' },
  qemuBinary: { env: 'MVM_QEMU_BINARY', file: 'agent.qemuBinary' },
  qemuAccel: { env: 'MVM_QEMU_ACCEL', file: 'agent.qemuAccel' },
  qemuBalloon: { env: 'MVM_QEMU_BALLOON', file: 'agent.qemuBalloon' },
  qemuTcgCacheMib: { env: 'MVM_QEMU_TCG_CACHE_MIB', file: 'agent.qemuTcgCacheMib' },
  warmReclaim: { env: 'MVM_WARM_RECLAIM', file: 'agent.warmReclaim' },
  wakeWithoutCoordinator: {
    flag: 'wakeWithoutCoordinator',
    env: 'MVM_WAKE_WITHOUT_COORDINATOR',
    file: 'agent.wakeWithoutCoordinator',
  },
  firecrackerBin: { env: 'MVM_FIRECRACKER_BIN', file: 'agent.firecrackerBin' },
  jailerBin: { env: 'MVM_JAILER_BIN', file: 'agent.jailerBin' },
  confine: { env: 'MVM_CONFINE', file: 'agent.confine' },
  fenceWatchdog: { env: 'MVM_FENCE_WATCHDOG', file: 'agent.fenceWatchdog' },
  uidBase: { file: 'agent.uidBase' },
  network: { env: 'MVM_NETWORK', file: 'agent.network' },
  clones: { env: 'MVM_CLONES', file: 'agent.clones' },
  baseGraceSecs: { env: 'MVM_BASE_GRACE_SECS', file: 'agent.baseGraceSecs' },
  netns: { flag: 'netns', file: 'agent.netns' },
  underlayIp: { flag: 'underlayIp', file: 'agent.underlayIp' },
  coordinatorUrl: { flag: 'coordinator', env: 'MVM_COORDINATOR_URL', file: 'coordinatorUrl' },
  token: { flag: 'token', env: 'MVM_TOKEN', file: 'token' },
  nodeId: { flag: 'node', file: 'agent.nodeId' },
  production: { flag: 'production', file: 'agent.production' },
  trustedKey: { flag: 'trustedKey', file: 'agent.trustedKey' },
  heartbeatMs: { flag: 'heartbeatMs', file: 'agent.heartbeatMs' },
  heartbeatCpuTolerance: {
    flag: 'heartbeatCpuTolerance',
    env: 'MVM_HEARTBEAT_CPU_TOLERANCE',
    file: 'agent.heartbeatCpuTolerance',
  },
  heartbeatRssTolerance: {
    flag: 'heartbeatRssTolerance',
    env: 'MVM_HEARTBEAT_RSS_TOLERANCE',
    file: 'agent.heartbeatRssTolerance',
  },
  heartbeatDiskTolerance: {
    flag: 'heartbeatDiskTolerance',
    env: 'MVM_HEARTBEAT_DISK_TOLERANCE',
    file: 'agent.heartbeatDiskTolerance',
  },
  vcpus: { flag: 'vcpus', file: 'agent.vcpus' },
  maxDocumentAgeSecs: { env: 'MVM_MAX_DOC_AGE_SECS', file: 'agent.maxDocumentAgeSecs' },
  moveHoldSecs: { env: 'MVM_MOVE_HOLD_SECS', file: 'agent.moveHoldSecs' },
  devKernelPackage: { env: 'MVM_DEV_KERNEL_PACKAGE', file: 'agent.devKernelPackage' },
  busybox: { env: 'MVM_BUSYBOX', file: 'agent.busybox' },
  guestCc: { env: 'MVM_GUEST_CC', file: 'agent.guestCc' },
  workerImage: { env: 'MVM_WORKER_IMAGE', file: 'agent.workerImage' },
  workerExec: { env: 'MVM_WORKER_EXEC', file: 'agent.workerExec' },
  secretsDir: { env: 'MVM_SECRETS_DIR', file: 'agent.secretsDir' },
  fault: { env: 'MVM_FAULT', file: 'agent.fault' },
  metricsListen: { flag: 'metricsListen', file: 'agent.metricsListen' },
  publishAddress: { env: 'MVM_PUBLISH_ADDRESS', file: 'agent.publishAddress' },
} as const satisfies Record<string, SettingSource>;

export type SettingKey = keyof typeof agentSettings;

export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Each answer is signed afresh, so this only has to cover clock skew between the two hosts. */
export const DEFAULT_MAX_DOCUMENT_AGE_SECS = 600;
/**
 * How long an instance handed over to this node is kept from its reconciler while the
 * document naming it is on its way (docs/moves.md). Too short and a late document would
 * let the reconciler remove the copy it just received: hence the lower bound.
 */
export const DEFAULT_MOVE_HOLD_SECS = 60;

/** Used when no layer sets a value; settings absent here are optional. */
export const agentDefaults: Partial<Record<SettingKey, string | number | boolean>> = {
  dataDir: '/var/lib/mvm',
  cacheDir: '/var/cache/mvm',
  vmm: 'qemu',
  qemuBinary: 'qemu-system-x86_64',
  qemuAccel: 'auto',
  qemuBalloon: 'on',
  warmReclaim: 'off',
  wakeWithoutCoordinator: 'on',
  firecrackerBin: 'firecracker',
  confine: 'on',
  fenceWatchdog: 'on',
  uidBase: DEFAULT_UID_BASE,
  network: 'on',
  clones: 'off',
  baseGraceSecs: 600,
  coordinatorUrl: 'http://127.0.0.1:7070',
  production: false,
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  heartbeatCpuTolerance: formatGaugeTolerance(DEFAULT_SAMPLE_TOLERANCE.cpuPermille),
  heartbeatRssTolerance: formatGaugeTolerance(DEFAULT_SAMPLE_TOLERANCE.rssKib),
  heartbeatDiskTolerance: formatGaugeTolerance(DEFAULT_SAMPLE_TOLERANCE.diskKib),
  maxDocumentAgeSecs: DEFAULT_MAX_DOCUMENT_AGE_SECS,
  moveHoldSecs: DEFAULT_MOVE_HOLD_SECS,
  busybox: '/bin/busybox',
  guestCc: 'gcc',
  workerImage: 'off',
  workerExec: 'off',
};

const nonEmpty = z.string().min(1, 'must not be empty');

/**
 * How far a gauge may drift before a delta heartbeat resends its sample
 * (core/sample-tolerance.ts): `ABS,REL%` in the gauge's unit, or `exact`.
 */
const gaugeTolerance = (unit: string, example: string) =>
  z.string({ error: `must be ABS,REL% (e.g. ${example}) or exact` }).transform((text, ctx) => {
    const tolerance = parseGaugeTolerance(text.trim());
    if (tolerance !== undefined) return tolerance;
    ctx.addIssue({
      code: 'custom',
      message: `must be ABS,REL% (e.g. ${example}): ABS a whole number of ${unit}, REL a percentage from 0 to 100; or exact`,
    });
    return z.NEVER;
  });

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `use ${values.join(', ')}` });

export const agentSettingsSchema = z.strictObject({
  dataDir: nonEmpty,
  socket: nonEmpty.optional(),
  cacheDir: nonEmpty,
  vmm: oneOf(vmmChoices),
  qemuBinary: nonEmpty,
  qemuAccel: oneOf(accelChoices),
  /** The free-page-reporting balloon on new boots (drivers/qemu/qemu-balloon.ts). */
  qemuBalloon: oneOf(['on', 'off']),
  /** TCG's translation cache, MiB (QEMU's tb-size; the driver's default when unset). */
  qemuTcgCacheMib: z.coerce
    .number({ error: 'must be a number of MiB' })
    .int('must be a whole number of MiB')
    .min(4, 'must be at least 4')
    .max(1024, 'must be at most 1024')
    .optional(),
  /** The guest drops its caches and reports them free before each warm (runtime/warm-reclaim.ts). */
  warmReclaim: oneOf(['on', 'off']),
  /** A wake on connect the coordinator does not answer is admitted by the node's own count. */
  wakeWithoutCoordinator: oneOf(['on', 'off']),
  firecrackerBin: nonEmpty,
  jailerBin: nonEmpty.optional(),
  confine: oneOf(['on', 'off']),
  fenceWatchdog: oneOf(['on', 'off']),
  workerImage: oneOf(['on', 'off']),
  workerExec: oneOf(['on', 'off']),
  uidBase: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1000, 'must be at least 1000')
    .max(2 ** 32 - 2 - IDENTITY_SLOTS, `must be at most ${2 ** 32 - 2 - IDENTITY_SLOTS}`),
  network: oneOf(['on', 'off']),
  clones: oneOf(['on', 'off']),
  /** How long a pool base outlives its pool revision's last instance here (docs/clones.md). */
  baseGraceSecs: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(0, 'must be at least 0')
    .max(604_800, 'must be at most 604800 (a week)'),
  netns: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'is not a network namespace name')
    .optional(),
  underlayIp: underlayIpSchema.optional(),
  coordinatorUrl: httpUrlSchema,
  token: nonEmpty.optional(),
  nodeId: idSchema.optional(),
  production: z.boolean({ error: 'must be true or false' }),
  trustedKey: nonEmpty.optional(),
  heartbeatMs: z
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(100, 'must be at least 100')
    .max(3_600_000, 'must be at most 3600000'),
  heartbeatCpuTolerance: gaugeTolerance('thousandths of a CPU', '50,25%'),
  heartbeatRssTolerance: gaugeTolerance('KiB', '1024,5%'),
  heartbeatDiskTolerance: gaugeTolerance('KiB', '1024,1%'),
  vcpus: z
    .number({ error: 'must be a number of vCPUs' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(4096, 'must be at most 4096')
    .optional(),
  maxDocumentAgeSecs: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(10, 'must be at least 10')
    .max(604_800, 'must be at most 604800 (a week)'),
  moveHoldSecs: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(10, 'must be at least 10')
    .max(86_400, 'must be at most 86400 (a day)'),
  metricsListen: z
    .string()
    .regex(
      /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}$/,
      'must be ADDRESS:PORT, e.g. 127.0.0.1:9464',
    )
    .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port must be at most 65535')
    .optional(),
  devKernelPackage: nonEmpty.optional(),
  busybox: nonEmpty,
  guestCc: nonEmpty,
  secretsDir: nonEmpty.optional(),
  fault: oneOf(FAULT_POINTS).optional(),
  /** Where published ports bind (agent/publish); default 127.0.0.1, this host only. */
  publishAddress: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address, e.g. 127.0.0.1 or 0.0.0.0')
    .optional(),
});

export type AgentSettingValues = z.output<typeof agentSettingsSchema>;
