/**
 * Where one recomputation of a 1,000-instance document goes once its tenants' inputs are kept
 * (doccache): each step of DesiredService.compute and issue timed alone, in process, at 100k
 * in fleet-scale's spread fleet (see bench/document-cost.ts). The kept entries' build and text
 * (desired/tenant-entries.ts) are timed beside the whole build and serialization.
 *   npx tsx bench/document-breakdown.ts [postgres|sqlite] [--samples 20]
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import { documentDigest } from '../src/coordinator/desired/document-digest.ts';
import { NodeRowsCache } from '../src/coordinator/desired/node-rows.ts';
import { nodeDocument } from '../src/coordinator/desired/node-document.ts';
import { TenantEntries } from '../src/coordinator/desired/tenant-entries.ts';
import { TenantInputsCache } from '../src/coordinator/desired/tenant-inputs.ts';
import { buildNodeDocument, documentContent, stampedPayload } from '../src/core/desired-doc.ts';
import { holdMoving } from '../src/core/move-hold.ts';
import { tenantPeersByNodes } from '../src/core/vxlan-peers.ts';
import { nodeId, tenantId, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { percentile } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'string' } },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const SAMPLES = Number(flags.samples ?? 20);

const shape = { nodes: 100, tenants: 500, perTenant: 200 };
const { store, notifier, api, close } = await seededFleet(storeName, shape, {
  clusterCidr: '10.0.0.0/8',
});
try {
  const cache = new TenantInputsCache(store, notifier, { maxAgeMs: 3_600_000, nowMs: () => 0 });
  const key = ephemeralSigningKey();
  const steps = new Map<string, number[]>();
  const time = async <T>(name: string, step: () => T | Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await step();
    steps.set(name, [...(steps.get(name) ?? []), performance.now() - started]);
    return value;
  };
  // Each sample follows a running ⇄ warm toggle of one instance: its node's rows read in full
  // (as before docpatch) and patched from the kept ones (node-rows.ts), back to back.
  const rowsCache = new NodeRowsCache(store);
  // As the service keeps them: each tenant's entry and its inputs (tenant-entries.ts).
  const entries = new TenantEntries();
  for (let n = 0; n < shape.nodes; n += 1) await rowsCache.read(nodeId(n));
  for (let i = -1; i < SAMPLES; i += 1) {
    const warm = Math.abs(i) % 2;
    const answer = (await api('POST', `/tenants/${tenantId(1)}/pools/w/scale`, {
      running: shape.perTenant - warm,
      warm,
    })) as { changed: Array<{ nodeId: string | null }> };
    const node = answer.changed[0]?.nodeId;
    if (!node) throw new Error('the toggle changed no placed instance');
    await time('nodes.get', () => store.nodes.get(node));
    await time('instances.documentRows (1,000 rows, full read)', () =>
      store.instances.documentRows(node),
    );
    const rows = await time('node rows patched (documentChanges: 1 row)', () =>
      rowsCache.read(node),
    );
    const moves = await time('instanceMoves.activeOn', () => store.instanceMoves.activeOn(node));
    const inputs = await time('tenant inputs (kept; only marks moved since read)', () =>
      cache.read(node, rows.tenants, notifier.current),
    );
    // The rows in one list, for the whole build (as before the entries followed the tenants).
    const flat = [...rows.tenants.values()];
    const instances = holdMoving(
      flat.flatMap((t) => [...t.instances.values()]),
      moves,
    );
    const requestIds = new Map(flat.flatMap((t) => [...t.requestIds]));
    await time('peers (tenantPeersByNodes, as before the assembly was reused)', () =>
      tenantPeersByNodes(node, inputs.nodes, inputs.held),
    );
    const doc = await time('peers + buildNodeDocument', () =>
      buildNodeDocument(
        node,
        inputs.tenants,
        inputs.pools,
        instances,
        { generation: 0, issuedAt: '' },
        tenantPeersByNodes(node, inputs.nodes, inputs.held),
        inputs.workloads,
        requestIds,
      ),
    );
    const peers = inputs.peers;
    const forNode = entries.forNode(node);
    const kept = await time('nodeDocument, kept entries (changed tenants built)', () => {
      const built = nodeDocument(node, rows, { ...inputs, peers }, moves, forNode.memo);
      forNode.done();
      return built;
    });
    const content = await time('documentContent', () => documentContent(doc));
    const joined = await time(
      "documentContent, kept entries' texts (changed tenants serialized)",
      () => documentContent(kept, forNode.text),
    );
    if (joined !== content) throw new Error('kept entries built another document');
    await time('sha256', () => createHash('sha256').update(content).digest('hex'));
    await time("documentDigest, kept entries' digests", () => documentDigest(kept, forNode.digest));
    await time('generations.get', () => store.generations.get(node));
    // A toggle changes the content: the new generation is a committed upsert.
    await time('generations.bump (content changed)', () =>
      store.generations.bump(node, randomBytes(32).toString('hex'), new Date().toISOString()),
    );
    await time('payload + ed25519 signature', () =>
      key.sign(stampedPayload(content, { generation: 1, issuedAt: new Date().toISOString() })),
    );
    // The first round fills the cache: not counted.
    if (i === -1) steps.clear();
  }
  console.log(`${storeName}, 100000 instances, one 1,000-instance document, ${SAMPLES} samples`);
  console.log('| step | p50 | p90 |');
  console.log('| --- | --- | --- |');
  for (const [name, values] of steps) {
    console.log(
      `| ${name} | ${percentile(values, 50).toFixed(2)} ms | ${percentile(values, 90).toFixed(2)} ms |`,
    );
  }
} finally {
  await close();
}
