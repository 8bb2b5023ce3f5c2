/**
 * A real coordinator as a child process (`node dist/cli/main.js coordinator serve`), so the
 * benches read its CPU time and resident memory from /proc/<pid> apart from the load they
 * generate. With `cpuProfDir` it runs under `node --cpu-prof`: the profile is written there
 * when it exits on SIGTERM. With `heapSnapshotDir`, `heapSnapshot()` makes it write a heap
 * snapshot there (`--heapsnapshot-signal`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { procCpu } from './proc-cpu.ts';

export interface CoordinatorChildOptions {
  root: string;
  databaseUrl: string;
  dataDir: string;
  adminToken: string;
  /** Where its stderr (the structured log) goes. */
  logFile: string;
  cpuProfDir?: string;
  heapSnapshotDir?: string;
  /** Where the child writes its `process.memoryUsage()` each second (read by `sample()`). */
  memoryFile?: string;
  nodeLostAfterMs?: number;
}

export interface ProcSample {
  /** user + system CPU since start, in seconds. */
  cpuSecs: number;
  /** Of which in the kernel (system calls: sockets to Postgres and clients, the loopback's work). */
  sysSecs: number;
  rssMib: number;
  /** The child's last `process.memoryUsage()` in MiB, when started with `memoryFile`. */
  memory?: MemorySplit;
}

export interface MemorySplit {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Loaded into the child with --import: its memoryUsage() to a file each second. */
const MEMORY_PROBE = [
  "import { writeFileSync } from 'node:fs';",
  'const file = process.env.MVM_BENCH_MEMORY_FILE;',
  'setInterval(() => writeFileSync(file, JSON.stringify(process.memoryUsage())), 1000).unref();',
].join('\n');

export class CoordinatorChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly memoryFile?: string,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(options: CoordinatorChildOptions): Promise<CoordinatorChild> {
    const args = [
      ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
      ...(options.heapSnapshotDir
        ? ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', options.heapSnapshotDir]
        : []),
      ...(options.memoryFile
        ? ['--import', `data:text/javascript,${encodeURIComponent(MEMORY_PROBE)}`]
        : []),
      join(options.root, 'dist/cli/main.js'),
      'coordinator',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--database',
      options.databaseUrl,
      '--node-lost-after-ms',
      String(options.nodeLostAfterMs ?? 30_000),
    ];
    // The log goes straight to its file: piped through this process, every line the child
    // wrote woke this process and cost it CPU the coordinator shares on this host.
    const log = openSync(options.logFile, 'a', 0o600);
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        MVM_DATA_DIR: options.dataDir,
        MVM_ADMIN_TOKEN: options.adminToken,
        ...(options.memoryFile ? { MVM_BENCH_MEMORY_FILE: options.memoryFile } : {}),
      },
      stdio: ['ignore', 'pipe', log],
    });
    closeSync(log);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`the coordinator did not start in 60 s: ${out}`)),
        60_000,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const found = /listening on (http:\/\/\S+)/.exec(out);
        if (found?.[1]) {
          clearTimeout(timer);
          resolve(found[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(
          new Error(`the coordinator exited (${code}) before listening; see ${options.logFile}`),
        );
      });
    });
    child.stdout?.resume();
    return new CoordinatorChild(child, url, options.memoryFile);
  }

  /** Its CPU time so far and its resident memory now, from /proc. */
  async sample(): Promise<ProcSample> {
    const { userSecs, sysSecs } = await procCpu(this.pid, readFile);
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const rssKib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const memory = this.memoryFile ? await memorySplit(this.memoryFile) : undefined;
    return {
      cpuSecs: userSecs + sysSecs,
      sysSecs,
      rssMib: rssKib / 1024,
      ...(memory ? { memory } : {}),
    };
  }

  /**
   * Asks for a heap snapshot (needs `heapSnapshotDir`). It is written on the coordinator's
   * main thread, so its next answer to any request comes after the file is complete.
   */
  heapSnapshot(): void {
    this.child.kill('SIGUSR2');
  }

  /** SIGTERM, then SIGKILL after 60 s; resolves once it has exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }
}

async function memorySplit(file: string): Promise<MemorySplit | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const usage = JSON.parse(text) as Record<keyof MemorySplit, number>;
  const mib = (bytes: number) => bytes / 2 ** 20;
  return {
    heapUsed: mib(usage.heapUsed),
    heapTotal: mib(usage.heapTotal),
    external: mib(usage.external),
    arrayBuffers: mib(usage.arrayBuffers),
  };
}
