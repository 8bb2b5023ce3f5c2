/**
 * The simulated agents' last long-polls per node (`fleet-sim --trace-late <ms>`): when a
 * change reaches its agent later than the bound, the node's recent watch calls say whether
 * the agent was waiting on the coordinator when the change was made (a slow answer) or was
 * between two polls (a gap on the agent's side), and which answers it got.
 */
export class WatchTrace {
  private readonly calls = new Map<string, string[]>();

  constructor(
    /** Times are printed in seconds from this performance.now() time. */
    private readonly originMs: number,
    private readonly keep = 8,
  ) {}

  /** Seconds since the origin, as the trace prints them. */
  at(ms: number): string {
    return ((ms - this.originMs) / 1000).toFixed(3);
  }

  /** One long-poll of `node`: sent and answered (performance.now() times), and its answer. */
  note(node: string, sentMs: number, answeredMs: number, answer: string): void {
    let list = this.calls.get(node);
    if (!list) this.calls.set(node, (list = []));
    if (list.length >= this.keep) list.shift();
    list.push(`${this.at(sentMs)}->${this.at(answeredMs)} ${answer}`);
  }

  /** The node's recent long-polls, oldest first. */
  of(node: string): string {
    return (this.calls.get(node) ?? []).join(' | ');
  }
}
