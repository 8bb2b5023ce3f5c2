import { text } from '../api.mjs';
import { h, replace, table } from '../dom.mjs';
import { latencyByRoute, parseProm } from '../prom.mjs';

const ms = (seconds) =>
  seconds === Infinity ? '> 10000' : `≤ ${Math.round(seconds * 1000 * 10) / 10}`;

/** API and scheduler latency from the coordinator's own histograms (/v1/metrics). */
export async function latencyPage(ctx, main) {
  if (!ctx.identity.admin) {
    replace(
      main,
      h('h1', {}, 'Latency'),
      h('p', {}, 'API latency is the fleet’s: the admin token reads it.'),
    );
    return;
  }
  const load = async () => {
    const samples = parseProm(await text('/metrics'));
    const api = latencyByRoute(samples, 'mvm_http_request_duration_seconds');
    const scheduler = latencyByRoute(
      samples.map((s) => ({ ...s, labels: { ...s.labels, route: s.labels.outcome } })),
      'mvm_scheduler_run_duration_seconds',
    );
    replace(
      main,
      h('h1', {}, 'Latency'),
      h(
        'p',
        {},
        'Since the coordinator started; quantiles are the upper bound of their histogram bucket.',
      ),
      h('button', { type: 'button', onclick: () => void load() }, 'Read again'),
      table(
        'API requests by route',
        ['Route', 'Requests', 'p50 ms', 'p99 ms'],
        api,
        (r) => [r.route, r.count, ms(r.p50), ms(r.p99)],
        (r) => ({ dataset: { route: r.route } }),
      ),
      table(
        'Scheduler passes by outcome',
        ['Outcome', 'Passes', 'p50 ms', 'p99 ms'],
        scheduler,
        (r) => [r.route, r.count, ms(r.p50), ms(r.p99)],
      ),
    );
  };
  await load();
}
