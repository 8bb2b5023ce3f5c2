/**
 * Reads the Prometheus text format the coordinator's /v1/metrics answers: samples as
 * { name, labels, value }. Enough for its own output (no escapes beyond \" \\ \n). Pure.
 */
export function parseProm(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    samples.push({ name: m[1], labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return samples;
}

function parseLabels(text) {
  const labels = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** One gauge's value per `key` label, e.g. allocated vCPUs by node. */
export function byLabel(samples, name, key) {
  const out = new Map();
  for (const s of samples) if (s.name === name) out.set(s.labels[key], s.value);
  return out;
}

/**
 * A histogram's latency per route: requests, and the p50/p99 as the upper bound of the
 * bucket the quantile falls in (what the buckets can honestly say), summed over method/code.
 */
export function latencyByRoute(samples, name) {
  const routes = new Map();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const r = routes.get(s.labels.route) ?? new Map();
    r.set(s.labels.le, (r.get(s.labels.le) ?? 0) + s.value);
    routes.set(s.labels.route, r);
  }
  return [...routes]
    .map(([route, buckets]) => {
      const sorted = [...buckets].sort((a, b) => bound(a[0]) - bound(b[0]));
      const total = sorted.at(-1)?.[1] ?? 0;
      return {
        route,
        count: total,
        p50: quantile(sorted, total, 0.5),
        p99: quantile(sorted, total, 0.99),
      };
    })
    .filter((r) => r.count > 0)
    .sort((a, b) => b.count - a.count || a.route.localeCompare(b.route));
}

const bound = (le) => (le === '+Inf' ? Infinity : Number(le));

function quantile(sorted, total, q) {
  const want = total * q;
  for (const [le, cumulative] of sorted) if (cumulative >= want) return bound(le);
  return Infinity;
}
