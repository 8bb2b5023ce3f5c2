/**
 * The world of the rollout e2e test: a real coordinator listening on loopback, one real agent
 * linked to it by token (QEMU under TCG, no tenant network), and the CLI in-process against the
 * listener, as a user runs it. What a failed assertion needs to be diagnosable is `story()`:
 * the pool's rollout, each instance's status and revision, and the rollout's audit trail.
 */
import type { InstanceView } from '../../../src/contract/resources.ts';
import type { RevisionView } from '../../../src/contract/revisions.ts';
import type { ApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import type { CliResult } from '../../support/exec-world.ts';
import { startLinkedWorld } from './linked-world.ts';

export const TENANT = 'shop';
export const POOL = 'web';
const pool = { tenant: TENANT, pool: POOL };

export interface RolloutWorld {
  api: ApiClient;
  mvm: (argv: readonly string[]) => Promise<CliResult>;
  /** Runs a command that must succeed (its stderr in the failure message); its stdout. */
  ok: (argv: readonly string[]) => Promise<string>;
  build: () => Promise<string>;
  instances: () => Promise<InstanceView[]>;
  story: () => Promise<string>;
  close: () => Promise<void>;
}

export async function startRolloutWorld(dir: string): Promise<RolloutWorld> {
  const world = await startLinkedWorld(dir);
  const { api, ok } = world;
  const instances = () => world.instances(TENANT);
  const story = async (): Promise<string> => {
    const rollout = (await api.call('getPool', { params: pool })).rollout;
    const events = await api.call('listEvents', { query: { tenant: TENANT, last: 50 } });
    return JSON.stringify(
      {
        rollout,
        instances: (await instances()).map((i) => `${i.id} ${i.status} ${i.revision ?? '-'}`),
        agentProblems: await world.agentProblems(),
        events: events
          .filter((e) => e.action.startsWith('rollout.'))
          .map((e) => `${e.action} ${JSON.stringify(e.detail)}`),
      },
      null,
      1,
    );
  };
  const build = async (): Promise<string> => {
    const built = await ok(['pool', 'build', `${TENANT}/${POOL}`, '--json']);
    return (JSON.parse(built) as RevisionView).id;
  };
  return { api, mvm: world.mvm, ok, build, instances, story, close: world.close };
}
