/**
 * Simulated host agents for the fleet simulation, all in this process: each node long-polls
 * its desired document (GET /nodes/:node/desired, one held socket each), acts on every
 * instance whose desired status differs from what it "runs" by reporting that status
 * (PUT .../status), and heartbeats every 5 s with a sample per instance. They do not verify
 * signatures (the coordinator still signs every answer): that CPU would be the bench's, not
 * the coordinator's. They take the document as a delta against the one they hold, as a real
 * agent does, made whole by the agent's own code (agent/desired/delta-payload.ts). Heartbeats
 * and status reports each use one bounded keep-alive socket pool.
 *
 * Heartbeats go as a real agent sends them (agent/heartbeat/report-deltas.ts, the same code):
 * whole reports until the coordinator says it takes deltas, then only the samples changed
 * since the last answered beat, a whole report every 12 beats and whenever asked. Each beat
 * a fraction `changed` of a node's samples change (their CPU figure jumps between 1% and 50%
 * of a CPU), as in a quiet fleet; with `drift` every sample's CPU and RSS also wobble a little,
 * within the agent's tolerance (core/sample-tolerance.ts; `exact` compares exactly, as agents
 * did before it); `changed` undefined sends whole reports every beat (the agents before
 * deltas). A node's
 * next beat waits for its last one's answer, as a real agent's does (counted as skipped).
 */
import { jsonClient, type JsonClient } from './http-json.ts';
import { nodeCapacity, nodeId } from './fleet-seed.ts';
import type { WatchTrace } from './watch-trace.ts';
import {
  rebuildEnvelope,
  tenantTexts,
  type HeldPayload,
} from '../../src/agent/desired/delta-payload.ts';
import type { DesiredDelta } from '../../src/contract/desired.ts';
import { ReportDeltas } from '../../src/agent/heartbeat/report-deltas.ts';
import { EXACT_SAMPLES } from '../../src/core/sample-tolerance.ts';
import type { HeartbeatResult } from '../../src/contract/heartbeat.ts';
import type { InstanceSample } from '../../src/contract/node-report.ts';

export const HEARTBEAT_MS = 5000;
const WAIT_MS = 25_000;

interface DocInstance {
  id: string;
  desiredStatus: string;
}
interface DocPool {
  id: string;
  instances: DocInstance[];
}
interface DesiredDoc {
  generation: number;
  tenants: Array<{ id: string; pools: DocPool[] }>;
}
type WatchAnswer = { unchanged: true; generation: number } | { payload: string } | DesiredDelta;

interface Seen {
  status: string;
  at: number;
}
interface Expectation {
  status: string;
  since: number;
  resolve(at: number): void;
}

export interface AgentCounters {
  documents: number;
  reports: number;
  reportErrors: number;
  heartbeats: number;
  heartbeatErrors: number;
  watchErrors: number;
  recovered: number;
  /** Beats not sent because the node's last one was still unanswered. */
  heartbeatsSkipped: number;
  /** Samples sent in heartbeats, and how many heartbeats were answered with `fullReport`. */
  samplesSent: number;
  heartbeatsSent: number;
  fullReportsAsked: number;
}

export class SimAgents {
  readonly heartbeatMs: number[] = [];
  readonly reportMs: number[] = [];
  readonly counters: AgentCounters = {
    documents: 0,
    reports: 0,
    reportErrors: 0,
    heartbeats: 0,
    heartbeatErrors: 0,
    watchErrors: 0,
    recovered: 0,
    heartbeatsSkipped: 0,
    samplesSent: 0,
    heartbeatsSent: 0,
    fullReportsAsked: 0,
  };
  /** Instance key → the desired status its node's agent holds and when it took it. */
  private readonly seen = new Map<string, Seen>();
  /** Instance key → what the agent runs (the status it last reported). */
  private readonly runs = new Map<string, string>();
  /** Node → its agent's last document: instance key → desired status. */
  private readonly byNode = new Map<string, Map<string, string>>();
  private readonly expectations = new Map<string, Expectation>();
  private readonly firstDocs = new Set<string>();
  private readonly stopping = new AbortController();
  private readonly polls: JsonClient;
  private readonly beats: JsonClient;
  private readonly reports: JsonClient;
  private running: Array<Promise<void>> = [];
  private recording = false;
  private readonly deltas = new Map<string, ReportDeltas>();
  /** Instance key → its CPU figure, moved for a `changed` fraction of samples each beat. */
  private readonly cpu = new Map<string, number>();
  private readonly beating = new Set<string>();
  private turn = 0;

  constructor(
    baseUrl: string,
    token: string,
    private readonly nodes: number,
    sockets: number,
    /** The fraction of each node's samples changed per beat; undefined: whole reports. */
    private readonly changed?: number,
    private readonly gauges: { drift?: boolean; exact?: boolean } = {},
    /** Notes every long-poll, for `--trace-late`. */
    private readonly trace?: WatchTrace,
  ) {
    this.polls = jsonClient(baseUrl, token, nodes);
    // Apart, so a backlog of heartbeats does not hold up status reports (each real agent
    // has a connection of its own).
    this.beats = jsonClient(baseUrl, token, sockets);
    this.reports = jsonClient(baseUrl, token, Math.max(4, sockets / 2));
  }

  /**
   * Starts the agents evenly over `rampMs` (as hosts come up, not all in one instant); each
   * heartbeats once it holds its first document.
   */
  start(rampMs: number): void {
    for (let n = 0; n < this.nodes; n += 1) {
      const delay = (n * rampMs) / this.nodes;
      this.running.push(new Promise((r) => setTimeout(r, delay)).then(() => this.watch(nodeId(n))));
    }
    this.running.push(this.heartbeats());
  }

  /** Latencies are kept only while recording (after warm-up). */
  record(on: boolean): void {
    this.recording = on;
  }

  /** Resolves once every node's agent holds a document. */
  async allHoldDocuments(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.firstDocs.size < this.nodes) {
      if (performance.now() > deadline)
        throw new Error(`${this.nodes - this.firstDocs.size} agents hold no document yet`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * When the agent of the instance's node holds it at `status` in a document that arrived at
   * or after `since` (a performance.now() time), as a performance.now() time.
   */
  arrival(key: string, status: string, since: number): Promise<number> {
    const seen = this.seen.get(key);
    if (seen && seen.status === status && seen.at >= since) return Promise.resolve(seen.at);
    return new Promise((resolve) => this.expectations.set(key, { status, since, resolve }));
  }

  /** The node whose last document listed `key` (a walk of every node's: for late changes only). */
  nodeOf(key: string): string | undefined {
    for (const [node, keys] of this.byNode) if (keys.has(key)) return node;
    return undefined;
  }

  /** The desired statuses of the node's agent's last document, by instance key. */
  holding(node: string): ReadonlyMap<string, string> {
    return this.byNode.get(node) ?? new Map();
  }

  /** Expectations still waiting (changes no agent has seen yet). */
  pending(): number {
    return this.expectations.size;
  }

  /** The changes no agent has seen yet: key, the status awaited, since when (performance.now()). */
  waiting(): Array<{ key: string; status: string; since: number }> {
    return [...this.expectations].map(([key, { status, since }]) => ({ key, status, since }));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.polls.close();
    this.beats.close();
    this.reports.close();
    await Promise.allSettled(this.running);
  }

  private async watch(node: string): Promise<void> {
    let generation = 0;
    let held: HeldPayload | undefined;
    // The last delta could not be used: the next answer is asked for whole.
    let whole = false;
    while (!this.stopping.signal.aborted) {
      try {
        const delta = whole ? '' : '&delta=1';
        const path = `/nodes/${node}/desired?after=${generation}&waitMs=${WAIT_MS}${delta}`;
        const sent = performance.now();
        const answer = (await this.polls.call('GET', path)) as WatchAnswer;
        if ('unchanged' in answer) {
          this.trace?.note(node, sent, performance.now(), `unchanged g${answer.generation}`);
          continue;
        }
        let payload: string;
        let texts: readonly string[] | undefined;
        if ('delta' in answer) {
          try {
            ({
              envelope: { payload },
              texts,
            } = rebuildEnvelope(answer, held));
          } catch (error) {
            whole = true;
            throw error;
          }
        } else payload = answer.payload;
        const doc = JSON.parse(payload) as DesiredDoc;
        this.trace?.note(node, sent, performance.now(), `g${doc.generation} after ${generation}`);
        generation = doc.generation;
        const cut = texts ?? tenantTexts(payload);
        held = cut && { generation, texts: cut };
        whole = false;
        this.counters.documents += 1;
        this.take(node, doc, performance.now());
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.counters.watchErrors += 1;
        if (this.counters.watchErrors <= 5) console.error(`watch ${node}:`, String(error));
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private take(node: string, doc: DesiredDoc, at: number): void {
    const first = !this.firstDocs.has(node);
    this.firstDocs.add(node);
    const keys = new Map<string, string>();
    for (const tenant of doc.tenants)
      for (const pool of tenant.pools)
        for (const instance of pool.instances) {
          const key = `${tenant.id}/${pool.id}/${instance.id}`;
          keys.set(key, instance.desiredStatus);
          this.noteDesired(key, instance.desiredStatus, at);
          // The seeded instances run as placed: the first document is the agent's start.
          if (first) this.runs.set(key, instance.desiredStatus);
          if (this.runs.get(key) !== instance.desiredStatus)
            void this.act(node, key, instance.desiredStatus);
        }
    this.byNode.set(node, keys);
  }

  private noteDesired(key: string, status: string, at: number): void {
    const before = this.seen.get(key);
    if (before?.status !== status) this.seen.set(key, { status, at });
    const waiting = this.expectations.get(key);
    if (waiting && waiting.status === status && at >= waiting.since) {
      this.expectations.delete(key);
      waiting.resolve(at);
    }
  }

  /** Reports the instance in its desired status, as an agent does once it got it there. */
  private async act(node: string, key: string, status: string): Promise<void> {
    const started = performance.now();
    try {
      await this.reports.call('PUT', `/nodes/${node}/instances/${key}/status`, { status });
      this.runs.set(key, status);
      if (status === 'destroyed') this.seen.delete(key);
      this.counters.reports += 1;
      if (this.recording) this.reportMs.push(performance.now() - started);
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      this.counters.reportErrors += 1;
      if (this.counters.reportErrors <= 5) console.error(`report ${key}:`, String(error));
    }
  }

  /** Every node's heartbeat every 5 s, spread evenly over the interval (not waiting on each). */
  private async heartbeats(): Promise<void> {
    const tickMs = 50;
    const perTick = this.nodes / (HEARTBEAT_MS / tickMs);
    let due = 0;
    let next = 0;
    while (!this.stopping.signal.aborted) {
      due += perTick;
      for (; due >= 1; due -= 1) {
        if (this.firstDocs.has(nodeId(next))) void this.heartbeat(nodeId(next));
        next = (next + 1) % this.nodes;
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  }

  private async heartbeat(node: string): Promise<void> {
    if (this.beating.has(node)) {
      this.counters.heartbeatsSkipped += 1;
      return;
    }
    this.beating.add(node);
    try {
      await this.beat(node);
    } finally {
      this.beating.delete(node);
    }
  }

  private async beat(node: string): Promise<void> {
    const instances = this.samples(node);
    const counts: Record<string, number> = {};
    for (const sample of instances) {
      const status = sample.status ?? 'created';
      counts[status] = (counts[status] ?? 0) + 1;
    }
    const running = (counts['running'] ?? 0) + (counts['warm'] ?? 0);
    const usage = { vcpus: running, memMib: running * 128, instances: counts, diskFreeMib: 1e6 };
    const deltas = this.deltasOf(node);
    const part = deltas ? deltas.next(instances, undefined) : { instances };
    this.counters.samplesSent += part.instances.length;
    this.counters.heartbeatsSent += 1;
    const started = performance.now();
    try {
      const answer = (await this.beats.call('POST', `/nodes/${node}/heartbeat`, {
        capacity: nodeCapacity,
        usage,
        ...part,
      })) as HeartbeatResult;
      this.counters.heartbeats += 1;
      if (answer.recovered) this.counters.recovered += 1;
      if (answer.fullReport === true) this.counters.fullReportsAsked += 1;
      // A whole report asked for goes with the next beat (the simulation keeps its pace).
      deltas?.answered(answer);
      if (this.recording) this.heartbeatMs.push(performance.now() - started);
    } catch (error) {
      deltas?.failed(error);
      if (this.stopping.signal.aborted) return;
      this.counters.heartbeatErrors += 1;
      if (this.counters.heartbeatErrors <= 5) console.error(`heartbeat ${node}:`, String(error));
    }
  }

  private deltasOf(node: string): ReportDeltas | undefined {
    if (this.changed === undefined) return undefined;
    let deltas = this.deltas.get(node);
    if (!deltas) {
      const exact = this.gauges.exact === true ? { tolerance: EXACT_SAMPLES } : {};
      deltas = new ReportDeltas({ epoch: `sim-${node}`, ...exact });
      this.deltas.set(node, deltas);
    }
    return deltas;
  }

  /** A sample per instance; `changed` of them (rotating) with a new CPU figure. */
  private samples(node: string): InstanceSample[] {
    const keys = [...(this.byNode.get(node)?.keys() ?? [])];
    const moving = Math.round((this.changed ?? 0) * keys.length);
    const from = keys.length === 0 ? 0 : (this.turn += moving) % keys.length;
    const wobble = this.gauges.drift === true ? this.turn : undefined;
    return keys.map((key, n) => {
      const [tenant = '', pool = '', instance = ''] = key.split('/');
      const rotated = (n - from + keys.length) % keys.length;
      let cpu = this.cpu.get(key) ?? 10;
      if (rotated < moving) this.cpu.set(key, (cpu = cpu === 500 ? 10 : 500));
      const status = statusOf(this.runs.get(key)) as InstanceSample['status'];
      if (wobble === undefined) return { tenant, pool, instance, status, cpuPermille: cpu };
      const rssKib = 262_144 + (((wobble + n) % 5) - 2) * 512;
      return { tenant, pool, instance, status, cpuPermille: cpu + ((wobble + n) % 9), rssKib };
    });
  }
}

/** What a sample says the VM is in: an instance status (a desired `destroyed` is gone). */
function statusOf(runs: string | undefined): string {
  return runs === undefined || runs === 'destroyed' ? 'created' : runs;
}
