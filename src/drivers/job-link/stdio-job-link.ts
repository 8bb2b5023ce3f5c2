import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { GuestCall, GuestCallAnswer, GuestJobCall } from '../../contract/guest-job-call.ts';
import { LeaseLostError } from '../../ports/job-link.ts';
import { RoutedJobLink, type CallTarget, type WorkerSettings } from './routed-job-link.ts';

const TRANSIENT_TRIES = 5;

/**
 * The job link of an executor inside a worker guest: each call is a JSON line on `output`
 * (the exec session's stdout), answered by one line on `input`, through the host agent's
 * relay (agent/jobs/guest-job-relay.ts). The guest sends no credential and no node: the relay
 * speaks for the instance. When the relay goes away, every pending call fails.
 */
export class StdioJobLink extends RoutedJobLink {
  constructor(input: Readable, output: Writable, worker: WorkerSettings) {
    const lines = new LineCalls(input, output);
    super((call, target, body) => lines.send(call, target, body), worker);
  }
}

class LineCalls {
  private next = 0;
  private readonly pending = new Map<number, (answer: GuestCallAnswer) => void>();
  private closed: Error | undefined;

  constructor(
    input: Readable,
    private readonly output: Writable,
  ) {
    const reader = createInterface({ input, crlfDelay: Infinity });
    reader.on('line', (line) => this.answer(line));
    reader.on('close', () => this.close(new Error('the host agent closed the job channel')));
  }

  async send(call: GuestJobCall, target: CallTarget, body: object): Promise<unknown> {
    let last: GuestCallAnswer | undefined;
    for (let attempt = 0; attempt < TRANSIENT_TRIES; attempt += 1) {
      if (attempt > 0) await delay(100 * 2 ** attempt);
      last = await this.once(call, target, body);
      if (last.ok) return last.value;
      if (last.status === 409) throw new LeaseLostError(target.job ?? '', last.message);
      if (last.status < 500) break;
    }
    const failed = last as Extract<GuestCallAnswer, { ok: false }>;
    throw new Error(`${call}: ${failed.message} (${failed.code})`);
  }

  private once(call: GuestJobCall, target: CallTarget, body: object): Promise<GuestCallAnswer> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.next++;
    const line: GuestCall = { id, call, ...target, body: body as Record<string, unknown> };
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.output.write(`${JSON.stringify(line)}\n`);
    });
  }

  private answer(line: string): void {
    let parsed: GuestCallAnswer;
    try {
      parsed = JSON.parse(line) as GuestCallAnswer;
    } catch {
      return;
    }
    const settle = this.pending.get(parsed.id);
    this.pending.delete(parsed.id);
    settle?.(parsed);
  }

  private close(error: Error): void {
    this.closed = error;
    for (const settle of this.pending.values()) {
      settle({ id: -1, ok: false, status: 0, code: 'unavailable', message: error.message });
    }
    this.pending.clear();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
