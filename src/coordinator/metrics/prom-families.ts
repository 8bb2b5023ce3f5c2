import { Gauge, Registry } from 'prom-client';
import type { MetricFamily } from '../../core/metrics/fleet-metrics.ts';

/** Gauge families computed for one scrape, in a registry of their own (rendered, then dropped). */
export function familiesRegistry(families: readonly MetricFamily[]): Registry {
  const registry = new Registry();
  for (const f of families) {
    const gauge = new Gauge({
      name: f.name,
      help: f.help,
      labelNames: [...f.labelNames],
      registers: [registry],
    });
    for (const sample of f.samples) gauge.set(sample.labels, sample.value);
  }
  return registry;
}
