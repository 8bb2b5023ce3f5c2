/**
 * After the load: does every simulated agent's last document say what the store says? A change
 * left out of every later document (a lost delivery, not a late one) shows here as an instance
 * whose desired status in the store is not the one its agent holds, however long it waits.
 */
import { nodeId, type FleetShape } from './fleet-seed.ts';
import type { JsonClient } from './http-json.ts';
import type { SimAgents } from './sim-agents.ts';

interface StoredInstance {
  tenantId: string;
  poolId: string;
  id: string;
  status: string;
  desiredStatus: string;
}

export interface Settled {
  /** Instances whose agent's document disagreed with the store at the last look. */
  differing: number;
  /** How long it took the documents to agree (or the timeout). */
  waitedMs: number;
  /** A few of the last look's differences: `node key: store X, agent Y`. */
  examples: string[];
}

/**
 * Compares each node's agent's document with the node's instances in the store (those a
 * document lists: all but the destroyed ones their agent confirmed), every 500 ms until they
 * agree or `timeoutMs` passes. Only meaningful once nothing writes any more.
 */
export async function settle(
  api: JsonClient,
  agents: SimAgents,
  shape: FleetShape,
  timeoutMs: number,
): Promise<Settled> {
  const started = performance.now();
  for (;;) {
    const examples: string[] = [];
    let differing = 0;
    for (let n = 0; n < shape.nodes; n += 1) {
      const node = nodeId(n);
      const stored = (await api.call('GET', `/instances?node=${node}`)) as StoredInstance[];
      const held = new Map(agents.holding(node));
      for (const i of stored) {
        if (i.status === 'destroyed' && i.desiredStatus === 'destroyed') continue;
        const key = `${i.tenantId}/${i.poolId}/${i.id}`;
        const holds = held.get(key);
        held.delete(key);
        if (holds === i.desiredStatus) continue;
        differing += 1;
        examples.push(`${node} ${key}: store ${i.desiredStatus}, agent ${holds ?? 'none'}`);
      }
      for (const [key, holds] of held) {
        differing += 1;
        examples.push(`${node} ${key}: store none, agent ${holds}`);
      }
    }
    const waitedMs = performance.now() - started;
    if (differing === 0 || waitedMs > timeoutMs)
      return { differing, waitedMs, examples: examples.slice(0, 10) };
    await new Promise((r) => setTimeout(r, 500));
  }
}
