/**
 * The load of the fleet simulation, all through the coordinator's HTTP API: the fleet's
 * nodes, tenants and pools; a paced stream of pool scales whose changes are followed to the
 * simulated agents; a reader of lists and objects; a closed-loop burst of scales.
 */
import type { FleetShape } from './fleet-seed.ts';
import { nodeCapacity, nodeId, quotas, tenantId } from './fleet-seed.ts';
import { HttpStatusError, type JsonClient } from './http-json.ts';
import type { SimAgents } from './sim-agents.ts';
import type { WatchTrace } from './watch-trace.ts';

/** Runs `work` over `items` with at most `width` at a time. */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Waits for `work` at most `ms` (its timer cleared when the work ends first). */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Nodes, tenants and their pool `w` through the API (the instances are bulk-inserted). */
export async function seedApi(api: JsonClient, shape: FleetShape): Promise<void> {
  await inParallel(range(shape.nodes), 8, async (n) => {
    const body = { hostname: nodeId(n), arch: 'x86_64', capacity: nodeCapacity };
    await api.call('PUT', `/nodes/${nodeId(n)}`, body);
  });
  await inParallel(range(shape.tenants), 8, async (t) => {
    await api.call('POST', '/tenants', { id: tenantId(t), netId: t + 1, quotas });
    await api.call('POST', `/tenants/${tenantId(t)}/pools`, {
      id: 'w',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 128,
    });
  });
}

interface InstanceView {
  tenantId: string;
  poolId: string;
  id: string;
  desiredStatus: string;
}
interface ScaleAnswer {
  created: InstanceView[];
  changed: InstanceView[];
}

/** A tenant's pool scales cycle: one warm, back, one more, back. */
function scaleBody(step: number, perTenant: number) {
  switch (step % 4) {
    case 0:
      return { running: perTenant - 1, warm: 1 };
    case 2:
      return { running: perTenant + 1, warm: 0 };
    default:
      return { running: perTenant, warm: 0 };
  }
}

export interface StreamResult {
  scaleMs: number[];
  /** From each scale's answer to the agent holding each change (0 when it held it first). */
  actingMs: number[];
  /** Changes no agent had seen when the stream ended (plus 5 s). */
  unseen: number;
  /** Of those, the ones still unseen `lateMs` later (while nothing else was written). */
  lost: number;
}

/**
 * Pool scales at `rate` per second for `seconds`, each on a tenant with no change still on its
 * way to an agent (so two changes of one instance never merge into one document).
 */
export async function runScaleStream(
  api: JsonClient,
  agents: SimAgents,
  shape: FleetShape,
  options: {
    seconds: number;
    rate: number;
    /** Changes held later than `ms` after the answer are printed with their node's polls. */
    late?: { ms: number; trace: WatchTrace };
    /** How long changes unseen at the cutoff are waited for before they count as lost. */
    lostAfterMs: number;
    print(line: string): void;
  },
): Promise<StreamResult> {
  const result: StreamResult = { scaleMs: [], actingMs: [], unseen: 0, lost: 0 };
  const idle = range(shape.tenants);
  const steps = new Map<number, number>();
  const following: Array<Promise<void>> = [];
  const end = performance.now() + options.seconds * 1000;
  const gap = 1000 / options.rate;
  for (let due = performance.now(); due < end; due += gap) {
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const tenant = idle.shift();
    if (tenant === undefined) continue;
    following.push(scaleAndFollow(tenant));
  }
  const all = Promise.all(following);
  await atMost(all, 5000);
  result.unseen = agents.pending();
  if (result.unseen === 0) return result;
  // Late or lost? Nothing is written now: a change still on its way arrives, one left out of
  // every document does not (sim-settle.ts checks the documents against the store after).
  const cutoffAt = performance.now();
  for (const line of unseenLines(agents, options.late?.trace)) options.print(`unseen ${line}`);
  await atMost(all, options.lostAfterMs);
  result.lost = agents.pending();
  const waited = ((performance.now() - cutoffAt) / 1000).toFixed(1);
  options.print(
    `${result.unseen} unseen at the stream's cutoff: ${result.unseen - result.lost} arrived ` +
      `within ${waited} s after it, ${result.lost} did not`,
  );
  for (const line of unseenLines(agents, options.late?.trace)) options.print(`lost ${line}`);
  return result;

  async function scaleAndFollow(tenant: number): Promise<void> {
    const step = steps.get(tenant) ?? 0;
    steps.set(tenant, step + 1);
    const started = performance.now();
    const path = `/tenants/${tenantId(tenant)}/pools/w/scale`;
    const answer = (await api.call('POST', path, scaleBody(step, shape.perTenant))) as ScaleAnswer;
    const answered = performance.now();
    result.scaleMs.push(answered - started);
    await Promise.all(
      [...answer.created, ...answer.changed].map(async (i) => {
        const key = `${i.tenantId}/${i.poolId}/${i.id}`;
        const at = await agents.arrival(key, i.desiredStatus, started);
        result.actingMs.push(Math.max(0, at - answered));
        const { late } = options;
        if (late && at - answered > late.ms) {
          const node = agents.nodeOf(key) ?? '?';
          const { trace } = late;
          options.print(
            `late ${key} ${i.desiredStatus}: scale ${trace.at(started)}, answered ${trace.at(answered)}, held ${trace.at(at)}; ${node}'s polls: ${trace.of(node)}`,
          );
        }
      }),
    );
    idle.push(tenant);
  }
}

/** Each change no agent has seen: what is awaited, what the node's document holds, its polls. */
function unseenLines(agents: SimAgents, trace: WatchTrace | undefined): string[] {
  return agents.waiting().map(({ key, status, since }) => {
    const node = agents.nodeOf(key);
    const holds =
      node === undefined
        ? 'no document lists it'
        : `${node} holds ${agents.holding(node).get(key)}`;
    const polls = trace && node !== undefined ? `; ${node}'s polls: ${trace.of(node)}` : '';
    const at = trace ? ` (scale at ${trace.at(since)})` : '';
    return `${key} awaited ${status}${at}: ${holds}${polls}`;
  });
}

/** API reads under the load, one at a time for `seconds`: lists (first pages) and objects. */
export async function runApiReader(
  api: JsonClient,
  shape: FleetShape,
  seconds: number,
): Promise<number[]> {
  const times: number[] = [];
  let unavailable = 0;
  const end = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < end; i += 1) {
    const t = tenantId(i % shape.tenants);
    const reads = [
      `/instances?limit=100&tenant=${t}`,
      `/instances?limit=100&node=${nodeId(i % shape.nodes)}`,
      `/tenants/${t}/pools/w`,
      `/nodes/${nodeId(i % shape.nodes)}`,
    ];
    const path = reads[i % reads.length] ?? '/nodes';
    const started = performance.now();
    try {
      await api.call('GET', path);
    } catch (error) {
      // A saturated coordinator answers 503 when no store connection came within 5 s: a
      // read that failed is counted (and timed), not the end of the run.
      if (!(error instanceof HttpStatusError && error.status === 503)) throw error;
      unavailable += 1;
    }
    times.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (unavailable > 0) console.error(`[fleet-sim] ${unavailable} API reads answered 503`);
  return times;
}

/** `clients` scaling their own tenants running ⇄ warm back to back for `seconds`. */
export async function runBurst(
  api: JsonClient,
  shape: FleetShape,
  options: { seconds: number; clients: number },
): Promise<{ done: number; scaleMs: number[] }> {
  const scaleMs: number[] = [];
  const end = performance.now() + options.seconds * 1000;
  await Promise.all(
    range(options.clients).map(async (c) => {
      const mine = range(shape.tenants).filter((t) => t % options.clients === c);
      for (let i = 0; performance.now() < end; i += 1) {
        const tenant = mine[i % mine.length] ?? c;
        const round = Math.floor(i / mine.length);
        const body = scaleBody(round % 2 === 0 ? 0 : 1, shape.perTenant);
        const started = performance.now();
        await api.call('POST', `/tenants/${tenantId(tenant)}/pools/w/scale`, body);
        scaleMs.push(performance.now() - started);
      }
    }),
  );
  return { done: scaleMs.length, scaleMs };
}
