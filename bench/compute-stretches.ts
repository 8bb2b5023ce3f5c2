/**
 * What a request waits behind on the event loop while a node's document is computed: in
 * process, at 100k in fleet-scale's spread fleet (500 tenants on each node's document), each
 * sample a running ⇄ warm toggle, then a watch of its node (as an agent's, `manifest=1`) and
 * the answer's JSON. Meanwhile a chain of setImmediate callbacks notes every stretch the loop
 * was held (a macrotask and its microtasks), and a probe read (`nodes.get` of another node, one
 * round trip) is sent every millisecond: its latency is what a scale's statements wait.
 * Each stretch is named by the step that ended in it (wrapped DesiredService methods). Runs the
 * service as main has it (`yield off`) and with its pauses (`yield on`), alternated.
 *   npx tsx bench/compute-stretches.ts [postgres|sqlite] [--samples 20] [--url <seeded db>]
 */
import { parseArgs } from 'node:util';
import { setImmediate as immediate } from 'node:timers/promises';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import { NodeRowsCache } from '../src/coordinator/desired/node-rows.ts';
import { TenantInputsCache } from '../src/coordinator/desired/tenant-inputs.ts';
import { DesiredService } from '../src/coordinator/services/desired-service.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { nodeId, tenantId, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { percentile } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'string' }, url: { type: 'string' }, keep: { type: 'boolean' } },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const SAMPLES = Number(flags.samples ?? 20);
const shape = { nodes: 100, tenants: 500, perTenant: 200 };

/** Where the loop is: the last step that ended, noted by the wrapped methods. */
let step: string[] = [];
const label = (name: string) => {
  if (step.at(-1) !== name) step.push(name);
};

/** Wraps an async method so that its resolution names the stretch it ends in. */
function wrapAsync(proto: object, method: string, name: string) {
  const target = proto as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const original = target[method];
  if (!original) throw new Error(`no method ${method}`);
  target[method] = async function (this: unknown, ...args: unknown[]) {
    const value = await original.apply(this, args);
    label(name);
    return value;
  };
}

const fleet = await seededFleet(storeName, shape, {
  clusterCidr: '10.0.0.0/8',
  ...(flags.url ? { url: flags.url } : {}),
  ...(flags.keep ? { keep: true } : {}),
});
const { store, notifier, api } = fleet;
try {
  const proto = DesiredService.prototype as unknown as object;
  wrapAsync(NodeRowsCache.prototype, 'read', 'rows');
  wrapAsync(TenantInputsCache.prototype, 'marksOf', 'marks');
  wrapAsync(TenantInputsCache.prototype, 'read', 'inputs');
  wrapAsync(proto, 'compute', 'document');
  wrapAsync(proto, 'numbered', 'numbered');
  const key = ephemeralSigningKey();
  const services = {
    off: new DesiredService({
      store,
      clock: systemClock,
      signingKey: key,
      notifier,
      stepYieldMs: -1,
    }),
    on: new DesiredService({
      store,
      clock: systemClock,
      signingKey: key,
      notifier,
    }),
  };
  const held = new Map<string, number>();
  const results = new Map<string, { stretch: number[]; probe: number[]; answer: number[] }>();
  const longest = new Map<string, number[]>();
  // Warm both: every node's first document and kept inputs.
  for (const [, service] of Object.entries(services)) {
    for (let n = 0; n < shape.nodes; n += 1) await service.watch(nodeId(n), 0, 0);
  }
  let warm = 0;
  for (let i = 0; i < SAMPLES * 2; i += 1) {
    const mode = i % 2 === 0 ? 'off' : 'on';
    const service = services[mode];
    // Running ⇄ warm; a kept database may start either way (one more toggle then).
    let node: string | null | undefined;
    for (let tries = 0; tries < 2 && !node; tries += 1) {
      warm = 1 - warm;
      const answer = (await api('POST', `/tenants/${tenantId(1)}/pools/w/scale`, {
        running: shape.perTenant - warm,
        warm,
      })) as { changed: Array<{ nodeId: string | null }> };
      node = answer.changed[0]?.nodeId;
    }
    if (!node) throw new Error('the toggle changed no placed instance');
    await immediate();
    // The loop's stretches while the watch runs.
    let running = true;
    const stretches: Array<{ ms: number; step: string }> = [];
    const loop = (async () => {
      let last = performance.now();
      while (running) {
        await immediate();
        const now = performance.now();
        stretches.push({ ms: now - last, step: step.join(' + ') || 'other' });
        step = [];
        last = now;
      }
    })();
    const probes: number[] = [];
    const other = nodeId((Number(node.slice(-4)) + 1) % shape.nodes);
    const probe = setInterval(() => {
      const sent = performance.now();
      void store.nodes.get(other).then(() => probes.push(performance.now() - sent));
    }, 1);
    const started = performance.now();
    const doc = await service.watch(node, held.get(`${mode}:${node}`) ?? 0, 5000, {
      manifest: true,
    });
    JSON.stringify(doc);
    label('answer JSON');
    const answered = performance.now() - started;
    clearInterval(probe);
    running = false;
    await loop;
    if ('manifest' in doc) {
      const generation = /"generation":(\d+)/.exec(doc.manifest.head)?.[1];
      held.set(`${mode}:${node}`, Number(generation));
    }
    if (i < 2) continue;
    const r = results.get(mode) ?? { stretch: [], probe: [], answer: [] };
    results.set(mode, r);
    const max = stretches.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, step: '' });
    r.stretch.push(max.ms);
    r.probe.push(...probes);
    r.answer.push(answered);
    for (const s of stretches) {
      if (s.ms < 0.5) continue;
      const key = `${mode} | ${s.step}`;
      longest.set(key, [...(longest.get(key) ?? []), s.ms]);
    }
  }
  console.log(`${storeName}, 100000 instances, ${SAMPLES} samples a mode, alternated`);
  console.log(
    '| yield | watch answered p50 (p90) | longest stretch p50 (p90) | probe read p50 (p90, max) |',
  );
  console.log('| --- | --- | --- | --- |');
  const f = (v: number) => v.toFixed(2);
  for (const [mode, r] of results) {
    console.log(
      `| ${mode} | ${f(percentile(r.answer, 50))} (${f(percentile(r.answer, 90))}) ms | ${f(percentile(r.stretch, 50))} (${f(percentile(r.stretch, 90))}) ms | ${f(percentile(r.probe, 50))} (${f(percentile(r.probe, 90))}, ${f(Math.max(...r.probe))}) ms |`,
    );
  }
  console.log('\n| yield, stretch ended by | count | p50 | p90 | max |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [k, v] of [...longest].sort((a, b) => a[0].localeCompare(b[0]))) {
    console.log(
      `| ${k} | ${v.length} | ${f(percentile(v, 50))} ms | ${f(percentile(v, 90))} ms | ${f(Math.max(...v))} ms |`,
    );
  }
} finally {
  await fleet.close();
}
