/**
 * The fleet lab of one e2e suite (call inside its `describe`): before the suite, the dev image
 * (built or found once, before agents would race to build it), the coordinator, the nodes
 * registered (2 vCPUs, 2 GiB each) with their agents started unless `agents: false`, and a
 * tenant with a pool of 256 MiB guests with 16 MiB data disks; the processes' log tails
 * printed when the start or a test fails; everything cleaned up after the suite.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { devImage } from '../../support/qemu-guest.ts';
import { FleetLab, type FleetTimings } from './fleet-lab.ts';
import type { NodeId } from './fleet-topology.ts';

export interface FleetSuite {
  /** Named in the failure's log dump: `${name} failed; process logs:`. */
  name: string;
  nodes: readonly NodeId[];
  tenant: string;
  pool: string;
  timings?: FleetTimings;
  /** Start each node's agent (default true). */
  agents?: boolean;
  /** Lines of each process log printed on a failure (default 25). */
  logLines?: number;
}

/** The suite's lab, once started (it throws before `beforeAll` has run). */
export function useFleetLab(suite: FleetSuite): () => FleetLab {
  let lab: FleetLab | undefined;
  const printLogs = async (): Promise<void> => {
    if (lab)
      console.error(`${suite.name} failed; process logs:\n${await lab.logTails(suite.logLines)}`);
  };
  const start = async (): Promise<void> => {
    await devImage();
    lab = await FleetLab.create(suite.timings);
    await lab.start();
    for (const node of suite.nodes) {
      await lab.api.call('registerNode', {
        params: { node },
        body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 2, memMib: 2048, diskGib: 10 } },
      });
      if (suite.agents !== false) await lab.startAgent(node);
    }
    await lab.api.call('createTenant', { body: { id: suite.tenant } });
    await lab.api.call('createPool', {
      params: { tenant: suite.tenant },
      body: {
        id: suite.pool,
        flake: '.',
        profile: 'minimal',
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 16,
      },
    });
  };
  beforeAll(async () => {
    await start().catch(async (error: unknown) => {
      await printLogs();
      throw error;
    });
  }, 120_000);
  beforeEach((context) => context.onTestFailed(printLogs));
  afterAll(async () => {
    await lab?.cleanup();
  }, 60_000);
  return () => {
    if (!lab) throw new Error('the fleet did not start (see beforeAll)');
    return lab;
  };
}
