import { planDrain, type DrainAction } from '../../core/drain-plan.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { ServiceDeps } from './context.ts';
import { loadPlacementView } from './placement-view.ts';

/**
 * What draining a node would do with each of its instances (core/drain-plan.ts), read from
 * the store and changing nothing: where each would move, which sleep first, which wait.
 */
export async function drainPlanOf(deps: ServiceDeps, nodeId: string): Promise<DrainAction[]> {
  return deps.store.transaction(async (repos) => {
    const node = await repos.nodes.get(nodeId);
    if (!node) throw new NotFoundError('node', nodeId, "see 'mvm node list'");
    const view = await loadPlacementView(repos, 'all');
    const instances = await repos.instances.list({ nodeId });
    return planDrain({
      source: nodeId,
      instances,
      pools: view.pools,
      nodes: view.placementNodes.filter((n) => n.id !== nodeId),
    });
  });
}
