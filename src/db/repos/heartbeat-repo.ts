import type { Kysely, QueryResult } from 'kysely';
import type { HeartbeatRepo, NodeBeat, QuickBeat, ReportWrite } from '../../ports/store.ts';
import type {
  CompiledStatement,
  CompiledStatements,
  StatementParams,
} from '../compiled-statement.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import {
  beatParams,
  beatStatement,
  deltaBeatStatement,
  generationStatement,
  mergeParams,
  mergeStatement,
  putStatement,
  wholeBeatStatement,
} from './heartbeat-statements.ts';
import { nodeFromRow } from './node-repo.ts';
import { reportRow } from './node-report-repo.ts';

/**
 * The common heartbeat (docs/scale.md, "One statement per heartbeat, and drifting gauges").
 * On Postgres one statement whose data-modifying CTEs do the node's conditional update, then
 * the report's upsert or merge gated on that update having matched (`from beaten` /
 * `exists`), and whose select reads the node's generation: one round trip instead of three,
 * and no connection held between them. All parts see the snapshot the statement started with, as three autocommit
 * statements in a row would have seen theirs. On SQLite the same three statements in turn
 * (the caller's Store.batch gives them one commit). Every statement is compiled once per
 * shape (heartbeat-statements.ts).
 */
export class KyselyHeartbeatRepo implements HeartbeatRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  beat(id: string, fields: NodeBeat, report: ReportWrite): Promise<QuickBeat | undefined> {
    return dialectOf(this.db) === 'postgres'
      ? this.oneStatement(id, fields, report)
      : this.inTurn(id, fields, report);
  }

  private async oneStatement(
    id: string,
    fields: NodeBeat,
    report: ReportWrite,
  ): Promise<QuickBeat | undefined> {
    const beat = beatParams(id, fields);
    const { rows } =
      'whole' in report
        ? await this.run(wholeBeatStatement, {
            ...beat,
            ...reportRow(report.whole, report.sequence),
          })
        : await this.run(deltaBeatStatement, { ...beat, ...mergeParams(report.delta) });
    const row = rows[0];
    if (!row) return undefined;
    const { written, generation, ...node } = row;
    return {
      node: nodeFromRow(node),
      // A whole report is kept even when a later one of its run was already stored.
      kept: 'whole' in report || written,
      generation: generation ?? 0,
    };
  }

  private async inTurn(
    id: string,
    fields: NodeBeat,
    report: ReportWrite,
  ): Promise<QuickBeat | undefined> {
    const row = (await this.run(beatStatement, beatParams(id, fields))).rows[0];
    if (!row) return undefined;
    let kept = true;
    if ('whole' in report) {
      await this.run(putStatement, reportRow(report.whole, report.sequence));
    } else {
      const merged = await this.run(mergeStatement, mergeParams(report.delta));
      kept = (merged.numAffectedRows ?? 0n) > 0n;
    }
    const generation = (await this.run(generationStatement, { id })).rows[0];
    return { node: nodeFromRow(row), kept, generation: generation?.generation ?? 0 };
  }

  private run<P extends StatementParams, R>(
    statement: CompiledStatement<Database, P, R>,
    params: P,
  ): Promise<QueryResult<R>> {
    return this.statements.execute(this.db, statement, params);
  }
}
