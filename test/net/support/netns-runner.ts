import type {
  ProcessRunner,
  RunOptions,
  RunResult,
  SpawnOptions,
  SpawnedProcess,
} from '../../../src/ports/process-runner.ts';

/**
 * Starts every process inside one network namespace (`ip netns exec` execs in place, so the
 * pid is the real process's): a VMM started through it opens its tap by name in that
 * namespace. Unix sockets live in the filesystem, so QMP and the guest channel still work.
 */
export class NetnsRunner implements ProcessRunner {
  constructor(
    private readonly inner: ProcessRunner,
    private readonly netns: string,
  ) {}

  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return this.inner.run('ip', ['netns', 'exec', this.netns, command, ...args], options);
  }

  spawn(command: string, args: readonly string[], options?: SpawnOptions): SpawnedProcess {
    return this.inner.spawn('ip', ['netns', 'exec', this.netns, command, ...args], options);
  }
}
