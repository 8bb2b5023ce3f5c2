import type { ProcessRunner, RunResult } from '../../ports/process-runner.ts';

/** Bounds every host network command; none of them should ever take this long. */
const TIMEOUT_MS = 30_000;

/**
 * iproute2, bridge, nft and sysctl as argument arrays, all aimed at one network namespace:
 * `-n <ns>` where the tool has it, `ip netns exec <ns>` where it does not. Without a
 * namespace (production) they act on the root namespace.
 */
export class NetCommands {
  constructor(
    private readonly runner: ProcessRunner,
    readonly netns: string | undefined,
  ) {}

  private nsFlag(): string[] {
    return this.netns === undefined ? [] : ['-n', this.netns];
  }

  private inNs(command: string, args: readonly string[]): [string, string[]] {
    return this.netns === undefined
      ? [command, [...args]]
      : ['ip', ['netns', 'exec', this.netns, command, ...args]];
  }

  ip(args: readonly string[]): Promise<RunResult> {
    return this.runner.run('ip', [...this.nsFlag(), ...args], { timeoutMs: TIMEOUT_MS });
  }

  /** `ip -j ...` parsed; iproute2 prints nothing at all for an empty list. */
  async ipJson(args: readonly string[]): Promise<unknown> {
    const result = await this.ip(['-j', ...args]);
    return parseJson(result.stdout, []);
  }

  bridge(args: readonly string[]): Promise<RunResult> {
    return this.runner.run('bridge', [...this.nsFlag(), ...args], { timeoutMs: TIMEOUT_MS });
  }

  async bridgeJson(args: readonly string[]): Promise<unknown> {
    const result = await this.bridge(['-j', ...args]);
    return parseJson(result.stdout, []);
  }

  /** `nft -f -`: the whole script is one kernel transaction; it applies fully or not at all. */
  nftScript(script: string): Promise<RunResult> {
    const [command, args] = this.inNs('nft', ['-f', '-']);
    return this.runner.run(command, args, { input: script, timeoutMs: TIMEOUT_MS });
  }

  async nftRuleset(): Promise<unknown> {
    const [command, args] = this.inNs('nft', ['-j', 'list', 'ruleset']);
    const result = await this.runner.run(command, args, { timeoutMs: TIMEOUT_MS });
    return parseJson(result.stdout, { nftables: [] });
  }

  async sysctl(key: string, value?: string): Promise<string> {
    const args = value === undefined ? ['-n', key] : ['-w', `${key}=${value}`];
    const [command, full] = this.inNs('sysctl', args);
    const result = await this.runner.run(command, full, { timeoutMs: TIMEOUT_MS });
    return result.stdout.trim();
  }
}

function parseJson(text: string, empty: unknown): unknown {
  return text.trim() === '' ? empty : (JSON.parse(text) as unknown);
}
