import { spawn as nodeSpawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { HostError } from '../../core/errors.ts';
import type {
  ProcessRunner,
  RunOptions,
  RunResult,
  SpawnOptions,
  SpawnedProcess,
} from '../../ports/process-runner.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';

/** Enough of stderr to explain a failure without flooding logs or error payloads. */
const STDERR_TAIL_CHARS = 2000;

export interface NodeProcessRunnerOptions {
  logger?: Logger;
}

/** The real ProcessRunner: node:child_process with argument arrays, never a shell. */
export class NodeProcessRunner implements ProcessRunner {
  private readonly log: Logger;

  constructor(options: NodeProcessRunnerOptions = {}) {
    this.log = options.logger ?? silentLogger;
  }

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const started = Date.now();
    const child = nodeSpawn(command, [...args], {
      cwd: options.cwd,
      env: mergeEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return collect(child, command, args, options).then((result) => {
      this.log.debug({ command, args, exitCode: result.exitCode, ms: Date.now() - started }, 'ran');
      if (result.exitCode !== 0 && options.check !== false) {
        throw commandFailed(command, args, result.exitCode, result.stderr);
      }
      return result;
    });
  }

  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): SpawnedProcess {
    const fd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
    const [file, argv] = options.held ? heldCommand(command, args) : [command, [...args]];
    let child: ChildProcess;
    try {
      child = nodeSpawn(file, argv, {
        cwd: options.cwd,
        env: mergeEnv(options.env),
        detached: options.detached ?? false,
        stdio: [
          options.held ? 'pipe' : 'ignore',
          fd ?? 'ignore',
          fd ?? 'ignore',
          ...(options.fds ?? []),
        ],
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return this.wrap(child, command, args, options.detached ?? false);
  }

  private wrap(
    child: ChildProcess,
    command: string,
    args: readonly string[],
    detached: boolean,
  ): SpawnedProcess {
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    const pid = child.pid;
    if (pid === undefined) {
      throw new HostError(`could not start '${command}': is it installed and on PATH?`, {
        command,
        args: [...args],
      });
    }
    // A detached VMM must outlive us; do not keep the event loop alive for it.
    if (detached) child.unref();
    this.log.info({ command, pid }, 'spawned');
    // A held child's stdin is the gate; it must not crash us if the child is already gone.
    child.stdin?.on('error', () => undefined);
    return {
      pid,
      exited,
      kill: (signal?: NodeJS.Signals) => {
        child.kill(signal);
      },
      release: () => {
        child.stdin?.end('\n');
      },
    };
  }
}

/**
 * A constant shell that waits for one line on stdin, then execs the command in place (same
 * pid) with stdin from /dev/null; the command travels as arguments, never as shell text.
 */
const GATE = 'read _ || exit 125; exec "$@" </dev/null';

function heldCommand(command: string, args: readonly string[]): [string, string[]] {
  return ['sh', ['-c', GATE, 'mvm-held', command, ...args]];
}

function mergeEnv(env: Record<string, string> | undefined): NodeJS.ProcessEnv {
  return env === undefined ? process.env : { ...process.env, ...env };
}

function collect(
  child: ChildProcess,
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = startTimeout(child, options.timeoutMs);
    child.once('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(
        new HostError(`could not run '${command}': ${error.message}`, {
          command,
          args: [...args],
        }),
      );
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      if (signal !== null && code === null) {
        const why = timer?.fired
          ? `timed out after ${options.timeoutMs} ms`
          : `killed by ${signal}`;
        reject(commandFailed(command, args, null, stderr, why));
        return;
      }
      resolve({ exitCode: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    writeInput(child, options.input);
  });
}

type FiringTimer = NodeJS.Timeout & { fired?: boolean };

function startTimeout(child: ChildProcess, timeoutMs: number | undefined): FiringTimer | undefined {
  if (timeoutMs === undefined) return undefined;
  const timer: FiringTimer = setTimeout(() => {
    timer.fired = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  return timer;
}

function writeInput(child: ChildProcess, input: string | Uint8Array | undefined): void {
  const stdin = child.stdin;
  if (!stdin) return;
  // A child that exits without reading its stdin must not crash us with EPIPE.
  stdin.on('error', () => undefined);
  if (input === undefined) stdin.end();
  else stdin.end(input);
}

export function commandFailed(
  command: string,
  args: readonly string[],
  exitCode: number | null,
  stderr: string,
  why?: string,
): HostError {
  const tail = stderr.slice(-STDERR_TAIL_CHARS).trim();
  const status = why ?? `exited with ${exitCode}`;
  const said = tail === '' ? '' : `: ${tail.split('\n').slice(-3).join(' | ')}`;
  return new HostError(`'${command} ${args.join(' ')}' ${status}${said}`, {
    command,
    args: [...args],
    exitCode,
    stderrTail: tail,
  });
}
