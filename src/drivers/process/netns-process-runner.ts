import type {
  ProcessRunner,
  RunOptions,
  RunResult,
  SpawnOptions,
  SpawnedProcess,
} from '../../ports/process-runner.ts';

/**
 * Runs every command inside one network namespace through `ip netns exec <ns>`, which execs
 * in place: the pid is the real process's, so a VMM started through it can be adopted,
 * signalled and reaped as usual, and it opens its tap by name in that namespace. Unix
 * sockets live in the filesystem, so QMP and the guest channel work across the boundary.
 */
export class NetnsProcessRunner implements ProcessRunner {
  constructor(
    private readonly inner: ProcessRunner,
    readonly netns: string,
  ) {}

  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return this.inner.run('ip', this.wrap(command, args), options);
  }

  spawn(command: string, args: readonly string[], options?: SpawnOptions): SpawnedProcess {
    return this.inner.spawn('ip', this.wrap(command, args), options);
  }

  private wrap(command: string, args: readonly string[]): string[] {
    return ['netns', 'exec', this.netns, command, ...args];
  }
}
