/**
 * What one node's document costs to recompute in fleet-scale's spread fleet (100 nodes, every
 * tenant's 200 instances spread over every node: at 100k each document lists 500 tenants and
 * 1,000 instances), in process, without HTTP or watchers:
 *  - first computation: a replica that keeps no tenant inputs yet reads every tenant's record,
 *    pools, secrets, configs and nodes (what every recomputation cost before doccache);
 *  - after a toggle: a running ⇄ warm scale of one instance, then its node's document on the
 *    replica that made it (the inputs of its 500 tenants kept, desired/tenant-inputs.ts):
 *    every row read and every entry serialized again, then (back to back) the document
 *    patched from the previous one (desired/node-rows.ts).
 * Each sample is `issue()` (compute, hash, generation) and the signed envelope.
 *   npx tsx bench/document-cost.ts [postgres|sqlite] [--instances 100000] [--samples 20]
 */
import { parseArgs } from 'node:util';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import { DesiredService } from '../src/coordinator/services/desired-service.ts';
import type { Clock } from '../src/ports/clock.ts';
import { nodeId, tenantId, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { percentile } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { instances: { type: 'string' }, samples: { type: 'string' } },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const NODES = 100;
const PER_TENANT = 200;
const instances = Number(flags.instances ?? 100_000);
const SAMPLES = Number(flags.samples ?? 20);
const clock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

const shape = { nodes: NODES, tenants: instances / PER_TENANT, perTenant: PER_TENANT };
const { store, services, notifier, api, close } = await seededFleet(storeName, shape, {
  clusterCidr: '10.0.0.0/8',
});
try {
  const timed = async (issue: () => Promise<{ envelope: { payload: string } }>) => {
    const started = performance.now();
    const issued = await issue();
    const bytes = issued.envelope.payload.length;
    return { ms: performance.now() - started, bytes };
  };

  const first: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SAMPLES; i += 1) {
    const cold = new DesiredService({ store, clock, signingKey: ephemeralSigningKey(), notifier });
    const sample = await timed(() => cold.issue(nodeId(i % NODES)));
    first.push(sample.ms);
    bytes = sample.bytes;
  }

  // After a toggle, back to back: every row read and every entry serialized again (as
  // before docpatch), then the document patched from the previous one (node-rows.ts).
  const full = new DesiredService({
    store,
    clock,
    signingKey: ephemeralSigningKey(),
    notifier,
    patchDocuments: false,
  });
  const toggled = async (i: number, service: { issue: DesiredService['issue'] }) => {
    const warm = i % 2 === 0 ? 1 : 0;
    const answer = (await api('POST', `/tenants/${tenantId(1)}/pools/w/scale`, {
      running: PER_TENANT - warm,
      warm,
    })) as { changed: Array<{ nodeId: string | null }> };
    const node = answer.changed[0]?.nodeId;
    if (!node) throw new Error('the toggle changed no placed instance');
    return (await timed(() => service.issue(node))).ms;
  };
  const toggleFull: number[] = [];
  for (let n = 0; n < NODES; n += 1) await full.issue(nodeId(n));
  for (let i = 0; i < SAMPLES; i += 1) toggleFull.push(await toggled(i, full));
  const toggle: number[] = [];
  for (let n = 0; n < NODES; n += 1) await services.desired.issue(nodeId(n));
  for (let i = 0; i < SAMPLES; i += 1) toggle.push(await toggled(i, services.desired));

  const ms = (values: number[], p: number) => `${percentile(values, p).toFixed(1)} ms`;
  console.log(
    `${storeName}, ${instances} instances, ${instances / PER_TENANT} tenants on every node's document (${(bytes / 1024).toFixed(0)} KiB), ${SAMPLES} samples`,
  );
  console.log('| computation | p50 | p90 |');
  console.log('| --- | --- | --- |');
  console.log(`| first (every tenant read) | ${ms(first, 50)} | ${ms(first, 90)} |`);
  console.log(
    `| after a toggle (inputs kept, rows read in full) | ${ms(toggleFull, 50)} | ${ms(toggleFull, 90)} |`,
  );
  console.log(
    `| after a toggle (inputs kept, document patched) | ${ms(toggle, 50)} | ${ms(toggle, 90)} |`,
  );
} finally {
  await close();
}
