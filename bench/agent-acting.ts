/**
 * The real agent loop's acting on a scale (issue 17's "agent acting", the agent's own share):
 * from the watch's answer reaching the agent's API client to the pass's first action, to the
 * pass's end, and to the document being on disk (and when its mark is written and durable: the
 * pass plans meanwhile and acts once it is). runAgentLoop as coordinator-link starts it
 * (its watch over the API client, manifests, the real DesiredFileStore and DesiredMarkFile in
 * a temp dir on this host's disk), against an in-process coordinator on fleet-seed's spread
 * fleet of 10 nodes × 500 tenants × 2 instances each (each node's document has 1,000 instances
 * in 500 tenants, as at 100k); the runtime is in memory (test/agent/memory-runtime.ts), so a
 * pass's action is its start, no VMM. Each sample toggles one instance running ⇄ warm.
 *   npx tsx bench/agent-acting.ts [postgres|sqlite] [--samples 30]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DesiredFileStore } from '../src/agent/desired/desired-file-store.ts';
import { DesiredMarkFile } from '../src/agent/desired/desired-mark-file.ts';
import { runAgentLoop } from '../src/agent/reconcile/agent-loop.ts';
import type { StoredEnvelope } from '../src/contract/desired.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../src/drivers/coordinator-api/api-client.ts';
import { MemoryRuntime } from '../test/agent/memory-runtime.ts';
import { tenantId, type StoreName } from './support/fleet-seed.ts';
import { BENCH_ADMIN } from './support/in-process-coordinator.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { percentile } from './support/stats.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'string' } },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const SAMPLES = Number(flags.samples ?? 30);
const shape = { nodes: 10, tenants: 500, perTenant: 20 };

const fleet = await seededFleet(storeName, shape, { clusterCidr: '10.0.0.0/8' });
const dataDir = await mkdtemp(join(tmpdir(), 'mvm-bench-acting-'));
const abort = new AbortController();
try {
  const toggle = async (warm: number) =>
    (await fleet.api('POST', `/tenants/${tenantId(1)}/pools/w/scale`, {
      running: shape.perTenant - warm,
      warm,
    })) as { changed: Array<{ nodeId: string | null }> };
  const node = (await toggle(0), (await toggle(1)).changed[0]?.nodeId);
  if (!node) throw new Error('the toggle changed no placed instance');

  // When the last watch answer with a document reached the client, and what followed it.
  let answeredAt = 0;
  let firstRunAt: number | undefined;
  let savedAt: number | undefined;
  let markAt: number | undefined;
  let markedAt: number | undefined;
  let listAt: number | undefined;
  const passes: Array<{ generation: number; at: number }> = [];
  let passed: (() => void) | undefined;
  const api = createApiClient({
    baseUrl: 'http://coordinator.bench',
    token: BENCH_ADMIN,
    fetch: async (request) => {
      const response = await fleet.app.fetch(request);
      if (request.url.includes('/desired')) {
        answeredAt = performance.now();
        firstRunAt = undefined;
        savedAt = undefined;
        markAt = undefined;
        markedAt = undefined;
        listAt = undefined;
      }
      return response;
    },
  });
  const runtime = new MemoryRuntime();
  runtime.onRun = () => (firstRunAt ??= performance.now());
  const list = runtime.list.bind(runtime);
  runtime.list = () => ((listAt ??= performance.now()), list());
  class TimedStore extends DesiredFileStore {
    override async save(envelope: StoredEnvelope): Promise<void> {
      await super.save(envelope);
      savedAt = performance.now();
    }
  }
  const store = new TimedStore(join(dataDir, 'desired.json'));
  const marks = await DesiredMarkFile.open(join(dataDir, 'desired-mark.json'));
  const accepted = marks.accepted.bind(marks);
  // Entered once the answer is verified (before agentact, after the document's write); the
  // pass plans while it is written (since agentplan) and acts once it is durable.
  marks.accepted = (stamp) => (
    (markAt ??= performance.now()),
    accepted(stamp).then(() => void (markedAt ??= performance.now()))
  );
  const loop = runAgentLoop({
    api,
    nodeId: node,
    trustedKeys: [fleet.services.desired.signingKey().publicKeyPem],
    production: true,
    runtime: runtime.asRuntime,
    store,
    marks,
    clock: systemClock,
    signal: abort.signal,
    resyncMs: 3_600_000,
    onPass: (generation) => {
      passes.push({ generation, at: performance.now() });
      passed?.();
    },
  });
  const nextPass = () => new Promise<void>((resolve) => (passed = resolve));
  await nextPass(); // the first document, whole: every record made

  const rows = {
    toMark: [] as number[],
    toMarked: [] as number[],
    toPassStart: [] as number[],
    toAction: [] as number[],
    toPassEnd: [] as number[],
    toSaved: [] as number[],
  };
  let size = 0;
  for (let i = 0; i < SAMPLES + 2; i += 1) {
    // Between samples the document's write lands and the watch asks again.
    await new Promise((r) => setTimeout(r, 60));
    const after = nextPass();
    await toggle(i % 2);
    await after;
    const pass = passes.at(-1);
    if (!pass || firstRunAt === undefined) throw new Error('a pass without an action');
    const action = firstRunAt - answeredAt;
    const end = pass.at - answeredAt;
    const savedBy = async () => {
      for (let n = 0; n < 200 && savedAt === undefined; n += 1)
        await new Promise((r) => setTimeout(r, 5));
      return (savedAt ?? Number.NaN) - answeredAt;
    };
    const saved = await savedBy();
    if (i < 2) continue;
    rows.toMark.push((markAt ?? Number.NaN) - answeredAt);
    rows.toMarked.push((markedAt ?? Number.NaN) - answeredAt);
    rows.toPassStart.push((listAt ?? Number.NaN) - answeredAt);
    rows.toAction.push(action);
    rows.toPassEnd.push(end);
    rows.toSaved.push(saved);
    size = JSON.stringify(await store.load()).length;
  }
  const fmt = (v: number[]) =>
    `p50 ${percentile(v, 50).toFixed(2)} ms  p90 ${percentile(v, 90).toFixed(2)} ms`;
  console.log(`agent acting, ${storeName}, ${SAMPLES} toggles, document on disk ${size} bytes`);
  console.log(`  answer → mark write starts    ${fmt(rows.toMark)}`);
  console.log(`  answer → mark durable         ${fmt(rows.toMarked)}`);
  console.log(`  answer → pass starts (list)   ${fmt(rows.toPassStart)}`);
  console.log(`  answer → first action start   ${fmt(rows.toAction)}`);
  console.log(`  answer → pass end             ${fmt(rows.toPassEnd)}`);
  console.log(`  answer → document on disk     ${fmt(rows.toSaved)}`);
  abort.abort();
  await loop;
} finally {
  abort.abort();
  await rm(dataDir, { recursive: true, force: true });
  await fleet.close();
}
