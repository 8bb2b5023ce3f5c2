/**
 * What Postgres' backends spend a window on, by statement and by function: opt-in for the
 * benches that sample Postgres' CPU (`MVM_BENCH_PG_PROFILE=<dir>`, see pg-backend-cpu.ts). A
 * window opens at one sample and closes at the next. Over it:
 *  - pg_stat_statements' counters (calls, execution and planning time, rows, buffers) for the
 *    bench's database, the difference written ranked to `<dir>/statements-<n>.md`; the server
 *    needs `shared_preload_libraries = 'pg_stat_statements'` (with `track_planning = on` for
 *    the planning time) and the extension in the database (create it in template1 of a
 *    throwaway cluster: the benches make a fresh database);
 *  - `perf record -g` on the database's backends, to `<dir>/perf-<n>.data` (skipped when perf
 *    is missing): pg_stat_statements times execution and planning only, not the parse, the
 *    protocol or the commit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';

interface Counters {
  query: string;
  calls: number;
  /** Plans made (track_planning): equal to calls when each call is planned anew. */
  plans: number;
  execMs: number;
  planMs: number;
  rows: number;
  hit: number;
  read: number;
}

export class PgStatementProfile {
  private window: { before: Map<string, Counters>; perf: ChildProcess | undefined } | undefined;
  private windows = 0;

  constructor(
    private readonly client: pg.Client,
    private readonly dir: string,
  ) {}

  /** Opens a window, or closes the open one and writes what it saw. */
  async sample(pids: readonly number[]): Promise<void> {
    if (!this.window) {
      await mkdir(this.dir, { recursive: true });
      this.windows += 1;
      const before = await this.counters();
      this.window = { before, perf: startPerf(join(this.dir, `perf-${this.windows}.data`), pids) };
      return;
    }
    const { before, perf } = this.window;
    this.window = undefined;
    // perf stops by itself when a backend it follows is gone before it starts.
    if (perf && perf.exitCode === null && perf.signalCode === null) {
      const exited = once(perf, 'exit');
      perf.kill('SIGINT');
      await exited;
    }
    const after = await this.counters();
    await writeFile(join(this.dir, `statements-${this.windows}.md`), ranked(before, after));
  }

  private async counters(): Promise<Map<string, Counters>> {
    const { rows } = await this.client.query<{
      queryid: string;
      query: string;
      calls: string;
      plans: string;
      exec: number;
      plan: number;
      rows: string;
      hit: string;
      read: string;
    }>(
      `SELECT queryid::text, query, calls::text, plans::text, total_exec_time AS exec, total_plan_time AS plan,
              rows::text, shared_blks_hit::text AS hit, shared_blks_read::text AS read
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    const counters = new Map<string, Counters>();
    for (const r of rows) {
      counters.set(r.queryid, {
        query: r.query,
        calls: Number(r.calls),
        plans: Number(r.plans),
        execMs: r.exec,
        planMs: r.plan,
        rows: Number(r.rows),
        hit: Number(r.hit),
        read: Number(r.read),
      });
    }
    return counters;
  }
}

function startPerf(file: string, pids: readonly number[]): ChildProcess | undefined {
  if (pids.length === 0) return undefined;
  const perf = spawn(
    'perf',
    ['record', '-q', '-g', '-F', '1999', '-o', file, '-p', pids.join(',')],
    {
      stdio: 'ignore',
    },
  );
  perf.on('error', () => undefined);
  return perf;
}

function ranked(before: Map<string, Counters>, after: Map<string, Counters>): string {
  const rows: Counters[] = [];
  for (const [id, now] of after) {
    const then = before.get(id);
    const calls = now.calls - (then?.calls ?? 0);
    if (calls === 0) continue;
    rows.push({
      query: now.query,
      calls,
      plans: now.plans - (then?.plans ?? 0),
      execMs: now.execMs - (then?.execMs ?? 0),
      planMs: now.planMs - (then?.planMs ?? 0),
      rows: now.rows - (then?.rows ?? 0),
      hit: now.hit - (then?.hit ?? 0),
      read: now.read - (then?.read ?? 0),
    });
  }
  rows.sort((a, b) => b.execMs + b.planMs - (a.execMs + a.planMs));
  const total = rows.reduce((sum, r) => sum + r.execMs + r.planMs, 0);
  const lines = [
    `total execution + planning: ${total.toFixed(1)} ms over ${rows.length} statements`,
    '',
    '| exec + plan ms | share | calls | plans | exec µs/call | plan µs/call | rows/call | blocks hit/call | statement |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const text = r.query.replace(/\s+/g, ' ').slice(0, 240).replaceAll('|', '\\|');
    lines.push(
      `| ${(r.execMs + r.planMs).toFixed(1)} | ${(((r.execMs + r.planMs) / total) * 100).toFixed(1)}% | ${r.calls} | ${r.plans} | ${((r.execMs / r.calls) * 1000).toFixed(0)} | ${((r.planMs / r.calls) * 1000).toFixed(0)} | ${(r.rows / r.calls).toFixed(1)} | ${(r.hit / r.calls).toFixed(0)} | ${text} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
