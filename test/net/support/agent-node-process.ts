/**
 * One agent process inside a node namespace (a `support/*-agent-node.ts` script), asked one
 * command at a time on its stdin: it answers `up <json>` once started, then `ok <json>` or
 * `err <message>` per command, one line each.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export class AgentNode {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  private readonly log: string[] = [];
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!/^(ok|err|up) /.test(line)) return;
      if (this.waiter) this.waiter(line);
      else this.lines.push(line);
    });
    // The node's log, kept for a failure's message (the last lines only).
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.log.push(line);
      if (this.log.length > 40) this.log.shift();
    });
    this.exited = new Promise((done) => child.once('exit', () => done()));
  }

  next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the agent node did not answer')), timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(line);
      };
    });
  }

  async ask<T = Record<string, unknown>>(command: string, timeoutMs = 300_000): Promise<T> {
    this.child.stdin.write(`${command}\n`);
    const line = await this.next(timeoutMs);
    if (!line.startsWith('ok ')) throw new Error(`${command}: ${line}`);
    return JSON.parse(line.slice(3)) as T;
  }

  /** The node's last log lines (stderr), for an assertion's message. */
  logTail(): string {
    return this.log.join('\n');
  }

  /** kill -9, as a crash would. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Starts `script` in namespace `ns` with `dataDir`; the node and what its `up` line said. */
export async function startAgentNode(
  ns: string,
  script: string,
  dataDir: string,
): Promise<{ node: AgentNode; up: unknown }> {
  const args = ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, dataDir];
  const node = new AgentNode(spawn('ip', args, { stdio: 'pipe' }));
  const up = await node.next(120_000).catch(async (error: unknown) => {
    await node.kill();
    throw error;
  });
  if (!up.startsWith('up ')) {
    await node.kill();
    throw new Error(`agent node: ${up}`);
  }
  return { node, up: JSON.parse(up.slice(3)) as unknown };
}
