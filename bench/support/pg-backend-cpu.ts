/**
 * Postgres' own CPU spent for one database: the user and system time of its backends (the
 * sessions `pg_stat_activity` lists for it), read from /proc/<pid>/stat. The server must run
 * on this host. Background processes (WAL writer, checkpointer) serve every database and are
 * left out; a backend that exits between two samples loses its time since the first.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { procCpu } from './proc-cpu.ts';
import { PgStatementProfile } from './pg-statement-profile.ts';

export interface BackendCpu {
  /** user and system seconds of each backend, by pid. */
  byPid: Map<number, { userSecs: number; sysSecs: number }>;
}

export class PgBackendCpu {
  private constructor(
    private readonly client: pg.Client,
    private readonly profile: PgStatementProfile | undefined,
  ) {}

  /**
   * Watches the backends of the database `url` names (through a session of its own). With
   * `MVM_BENCH_PG_PROFILE=<dir>`, each pair of samples is also a window profiled by statement
   * and function (pg-statement-profile.ts).
   */
  static async open(url: string): Promise<PgBackendCpu> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const dir = process.env['MVM_BENCH_PG_PROFILE'];
    return new PgBackendCpu(client, dir ? new PgStatementProfile(client, dir) : undefined);
  }

  async sample(): Promise<BackendCpu> {
    const { rows } = await this.client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    const byPid = new Map<number, { userSecs: number; sysSecs: number }>();
    for (const { pid } of rows) {
      const cpu = await procCpu(pid, readFile).catch(() => undefined);
      if (cpu) byPid.set(pid, cpu);
    }
    await this.profile?.sample(rows.map((r) => r.pid));
    return { byPid };
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** CPU seconds the backends spent from `a` to `b` (one born since counts from its start). */
export function backendSecs(a: BackendCpu, b: BackendCpu): { userSecs: number; sysSecs: number } {
  let userSecs = 0;
  let sysSecs = 0;
  for (const [pid, now] of b.byPid) {
    const then = a.byPid.get(pid) ?? { userSecs: 0, sysSecs: 0 };
    userSecs += now.userSecs - then.userSecs;
    sysSecs += now.sysSecs - then.sysSecs;
  }
  return { userSecs, sysSecs };
}
