import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** Where the agent keeps things under its data dir; names are derived, never stored. */
export interface AgentLayout {
  dataDir: string;
  dbFile: string;
  socket: string;
  vmsDir: string;
  /** Firecracker chroots: `<jailsDir>/firecracker/<key>/root` (the jailer's layout). */
  jailsDir: string;
  /** The image cache (kernels, dev images); reported and collected with the node's disk. */
  cacheDir?: string;
  /**
   * Secrets drive images, outside the data dir (tmpfs): `<secrets dir>/<id>`, the id derived
   * from the data dir, so agents of several data dirs on one host never share one.
   */
  secretsDir: string;
}

export const DEFAULT_SECRETS_DIR = '/run/mvm/secrets';

export function agentLayout(dataDir: string, secretsRoot = DEFAULT_SECRETS_DIR): AgentLayout {
  const id = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  return {
    dataDir,
    dbFile: join(dataDir, 'agent.sqlite'),
    socket: join(dataDir, 'agent.sock'),
    vmsDir: join(dataDir, 'vms'),
    jailsDir: join(dataDir, 'jail'),
    secretsDir: join(secretsRoot, id),
  };
}

/** The directory holding an instance's secrets drive (built at each start and wake). */
export const secretsDirOf = (layout: AgentLayout, key: string): string =>
  join(layout.secretsDir, key);

export const instanceDir = (layout: AgentLayout, key: string): string => join(layout.vmsDir, key);
export const snapshotsDir = (dir: string): string => join(dir, 'snapshots');
/** The serial console the VMM writes (QEMU's chardev file; see qemuPaths). */
export const consoleLog = (dir: string): string => join(dir, 'console.log');
