import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** Latency buckets from 1 ms to 10 s: API calls and scheduler passes both fall in there. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The coordinator process's own metrics, kept for its lifetime: API latency per route (the
 * route's name, never the raw path: ids would make a series per object), scheduler passes,
 * and Node's process metrics. Fleet gauges are computed per scrape (metrics-service.ts).
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly requests = new Histogram({
    name: 'mvm_http_request_duration_seconds',
    help: 'API requests by route name, method and status code, from routing to the answer',
    labelNames: ['route', 'method', 'code'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly schedules = new Histogram({
    name: 'mvm_scheduler_run_duration_seconds',
    help: 'Scheduler passes (placement, pressure sleep and release) by outcome',
    labelNames: ['outcome'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly propagation = new Histogram({
    name: 'mvm_desired_propagation_seconds',
    help: "From a committed change to the watch answer delivering the node's document that carries it (changes committed on this replica)",
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mvm_coordinator_' });
  }

  request(route: string, method: string, code: number, seconds: number): void {
    this.requests.observe({ route, method, code: String(code) }, seconds);
  }

  propagated(seconds: number): void {
    this.propagation.observe(seconds);
  }

  /** Times one scheduler pass, counted as `error` when it throws (and rethrown). */
  async schedule<T>(pass: () => Promise<T>): Promise<T> {
    const end = this.schedules.startTimer();
    try {
      const result = await pass();
      end({ outcome: 'ok' });
      return result;
    } catch (error) {
      end({ outcome: 'error' });
      throw error;
    }
  }
}
