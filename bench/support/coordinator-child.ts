/**
 * A real coordinator as a child process (`node dist/cli/main.js coordinator serve`), so the
 * benches read its CPU time and resident memory from /proc/<pid> apart from the load they
 * generate. With `cpuProfDir` it runs under `node --cpu-prof`: the profile is written there
 * when it exits on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
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
  nodeLostAfterMs?: number;
}

export interface ProcSample {
  /** user + system CPU since start, in seconds. */
  cpuSecs: number;
  /** Of which in the kernel (system calls: sockets to Postgres and clients, the loopback's work). */
  sysSecs: number;
  rssMib: number;
}

export class CoordinatorChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(options: CoordinatorChildOptions): Promise<CoordinatorChild> {
    const args = [
      ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
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
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        MVM_DATA_DIR: options.dataDir,
        MVM_ADMIN_TOKEN: options.adminToken,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.pipe(createWriteStream(options.logFile));
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
    return new CoordinatorChild(child, url);
  }

  /** Its CPU time so far and its resident memory now, from /proc. */
  async sample(): Promise<ProcSample> {
    const { userSecs, sysSecs } = await procCpu(this.pid, readFile);
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const rssKib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSecs: userSecs + sysSecs, sysSecs, rssMib: rssKib / 1024 };
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
