/**
 * One agent-side desired-state watcher per node, and its heartbeat every 5 s, as agents run it (watchDesired: long-poll,
 * signature check), recording the last generation each holds, so a bench can wait for the
 * document a change produced on the node it concerns.
 */
import { watchDesired } from '../../src/agent/desired/watch-desired.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { nodeCapacity, nodeId } from './fleet-seed.ts';

const HEARTBEAT_MS = 5000;
const idle = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 100_000 };

export class NodeWatchers {
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly stopping = new AbortController();
  private running: Array<Promise<void>> = [];
  /**
   * The watch route's answers after a node's first document (`after` > 0): their bytes (by
   * content-length) and the documents they delivered.
   */
  private readonly answered = { bytes: 0, sized: 0, documents: 0 };

  private constructor(private readonly nodes: number) {}

  /** Node n watches through `baseUrl` (or the n mod length'th of several replicas'). */
  static async start(
    baseUrl: string | readonly string[],
    token: string,
    nodes: number,
  ): Promise<NodeWatchers> {
    const watchers = new NodeWatchers(nodes);
    // Counts the watch route's answers' bytes from their content-length (nothing read twice).
    const fetching = async (request: Request) => {
      const response = await fetch(request);
      const length = response.headers.get('content-length');
      if (
        request.url.includes('/desired') &&
        !request.url.includes('after=0&') &&
        length !== null
      ) {
        watchers.answered.bytes += Number(length);
        watchers.answered.sized += 1;
      }
      return response;
    };
    const apis = (typeof baseUrl === 'string' ? [baseUrl] : baseUrl).map((url) =>
      createApiClient({ baseUrl: url, token, fetch: fetching }),
    );
    const api = apis[0] as (typeof apis)[number];
    const key = (await api.call('getSigningKey', {})).publicKeyPem;
    watchers.running = Array.from({ length: nodes }, (_, n) =>
      watchDesired({
        api: apis[n % apis.length] as (typeof apis)[number],
        nodeId: nodeId(n),
        trustedKeys: [key],
        production: true,
        lastGeneration: 0,
        clock: systemClock,
        signal: watchers.stopping.signal,
        onDocument: (verified) => watchers.arrived(nodeId(n), verified.document.generation),
        onError: (error) => {
          if (!watchers.stopping.signal.aborted) console.error(`watch ${nodeId(n)}:`, error);
        },
      }),
    );
    watchers.running.push(watchers.heartbeat(api));
    return watchers;
  }

  /** Every node's heartbeat every 5 s, spread over the interval, until stopped. */
  private async heartbeat(api: ReturnType<typeof createApiClient>): Promise<void> {
    const { signal } = this.stopping;
    const gap = HEARTBEAT_MS / this.nodes;
    while (!signal.aborted) {
      for (let n = 0; n < this.nodes && !signal.aborted; n += 1) {
        const body = { capacity: nodeCapacity, usage: idle, instances: [] };
        await api.call('nodeHeartbeat', { params: { node: nodeId(n) }, body }).catch((error) => {
          if (!signal.aborted) console.error(`heartbeat ${nodeId(n)}:`, error);
        });
        await new Promise((r) => setTimeout(r, gap));
      }
    }
  }

  /** Each node's generation now. */
  snapshot(): Map<string, number> {
    return new Map(this.generations);
  }

  /** Resolves once the node holds a generation above `generation`. */
  after(node: string, generation: number): Promise<void> {
    return this.until(() => (this.generations.get(node) ?? 0) > generation);
  }

  /** Resolves once every node holds a document and none changed for 300 ms. */
  async settled(): Promise<void> {
    await this.until(() => this.generations.size === this.nodes);
    for (;;) {
      const before = JSON.stringify([...this.generations]);
      await new Promise((r) => setTimeout(r, 300));
      if (JSON.stringify([...this.generations]) === before) return;
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.running);
    const { bytes, sized, documents } = this.answered;
    const each = documents > 0 ? (bytes / documents / 1024).toFixed(1) : '-';
    console.error(
      `watchers: after each node's first document, ${documents} documents delivered, the watch's answers ${(bytes / 1024).toFixed(0)} KiB in all (${sized} answers sized): ${each} KiB per document`,
    );
  }

  private arrived(node: string, generation: number): void {
    if (this.generations.has(node)) this.answered.documents += 1;
    this.generations.set(node, generation);
    for (const wake of [...this.waiters]) wake();
  }

  private until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}
