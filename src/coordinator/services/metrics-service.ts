import { Registry } from 'prom-client';
import { fleetFamilies, tenantFamilies } from '../../core/metrics/fleet-metrics.ts';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts';
import { familiesRegistry } from '../metrics/prom-families.ts';
import type { ServiceDeps } from './context.ts';

/** A scrape in Prometheus's text format, with the content type that names its version. */
export interface Scrape {
  contentType: string;
  text: string;
}

/**
 * What `/v1/metrics` answers (docs/metrics.md). The admin token reads everything: fleet
 * gauges computed from the store at the scrape, API and scheduler histograms, the process's
 * own. A tenant's token reads only the series of its own instances and pools.
 */
export class MetricsService {
  constructor(
    private readonly deps: ServiceDeps,
    readonly process: CoordinatorMetrics,
  ) {}

  async scrape(tenantId: string | undefined, admin: boolean): Promise<Scrape> {
    const store = this.deps.store;
    const [tally, jobs, pools, nodes] = await Promise.all([
      store.instances.tally(),
      store.jobs.tally(),
      store.pools.list(tenantId === undefined ? {} : { tenantId }),
      admin && tenantId === undefined ? store.nodes.list() : Promise.resolve([]),
    ]);
    const input = { tally, jobs, pools, nodes, now: this.deps.clock.now() };
    if (tenantId !== undefined) {
      const registry = familiesRegistry(tenantFamilies(input, tenantId));
      return { contentType: registry.contentType, text: await registry.metrics() };
    }
    const merged = Registry.merge([familiesRegistry(fleetFamilies(input)), this.process.registry]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }
}
