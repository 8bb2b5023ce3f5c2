import { join } from 'node:path';

/** Where the agent keeps things under its data dir; names are derived, never stored. */
export interface AgentLayout {
  dataDir: string;
  dbFile: string;
  socket: string;
  vmsDir: string;
  /** The image cache (kernels, dev images); reported and collected with the node's disk. */
  cacheDir?: string;
}

export function agentLayout(dataDir: string): AgentLayout {
  return {
    dataDir,
    dbFile: join(dataDir, 'agent.sqlite'),
    socket: join(dataDir, 'agent.sock'),
    vmsDir: join(dataDir, 'vms'),
  };
}

export const instanceDir = (layout: AgentLayout, key: string): string => join(layout.vmsDir, key);
export const snapshotsDir = (dir: string): string => join(dir, 'snapshots');
/** The serial console the VMM writes (QEMU's chardev file; see qemuPaths). */
export const consoleLog = (dir: string): string => join(dir, 'console.log');
