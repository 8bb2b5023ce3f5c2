/** Child processes, always as argument arrays. Failures carry command, exit status and stderr. */
export interface RunOptions {
  /** Bytes written to stdin, if any. */
  input?: string | Uint8Array;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** When false, a non-zero exit is returned instead of thrown. Default true. */
  check?: boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** File that receives stdout and stderr (appended). */
  logFile?: string;
  /** Detach into its own process group so the parent's death does not take it down. */
  detached?: boolean;
  /**
   * Open descriptors the child inherits as fd 3, 4, ... in this order (drives, a migration
   * stream), so it never opens those paths itself. The caller closes its own copies after.
   */
  fds?: readonly number[];
  /**
   * Start held: the process exists (its pid is final) but waits, before it execs the command,
   * until `release()`. The caller places it first (cgroups): memory is charged to the cgroup a
   * task was in when it touched the page, and charges stay behind when a task moves later.
   */
  held?: boolean;
}

export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  /** Lets a `held` process exec its command; a no-op otherwise. */
  release(): void;
}

export interface ProcessRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  spawn(command: string, args: readonly string[], options?: SpawnOptions): SpawnedProcess;
}
