import { sql, type Kysely, type SqlBool } from 'kysely';
import type {
  HeartbeatRepo,
  NodeBeat,
  NodeReportDelta,
  QuickBeat,
  ReportWrite,
} from '../../ports/store.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import { KyselyGenerationRepo } from './generation-repo.ts';
import { beatQuery, nodeFromRow } from './node-repo.ts';
import {
  KyselyNodeReportRepo,
  mergeQuery,
  replacing,
  reportRow,
  type ReportRow,
} from './node-report-repo.ts';

/**
 * The common heartbeat (docs/scale.md, "One statement per heartbeat, and drifting gauges").
 * On Postgres one statement whose data-modifying CTEs do the node's conditional update, then
 * the report's upsert or merge gated on that update having matched (`from beaten` /
 * `exists`), and whose select reads the node's generation: one round trip instead of three,
 * and no connection held between them. All parts see the snapshot the statement started with, as three autocommit
 * statements in a row would have seen theirs. On SQLite the same three statements in turn
 * (the caller's Store.batch gives them one commit).
 */
export class KyselyHeartbeatRepo implements HeartbeatRepo {
  constructor(private readonly db: Kysely<Database>) {}

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
    const row = await this.db
      .with('beaten', () => beatQuery(this.db, id, fields).returningAll())
      .with('written', () =>
        'whole' in report
          ? gatedPut(this.db, reportRow(report.whole, report.sequence))
          : gatedMerge(this.db, report.delta),
      )
      .selectFrom('beaten')
      .selectAll('beaten')
      .select([
        sql<boolean>`exists (select 1 from written)`.as('written'),
        sql<number | null>`(select generation from node_generations where node_id = ${id})`.as(
          'generation',
        ),
      ])
      .executeTakeFirst();
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
    const row = await beatQuery(this.db, id, fields).returningAll().executeTakeFirst();
    if (!row) return undefined;
    const reports = new KyselyNodeReportRepo(this.db);
    let kept = true;
    if ('whole' in report) await reports.put(report.whole, report.sequence);
    else kept = await reports.merge(report.delta);
    const generation = (await new KyselyGenerationRepo(this.db).get(id))?.generation ?? 0;
    return { node: nodeFromRow(row), kept, generation };
  }
}

/** put, inserting only when the node's update matched (a row of `beaten`). */
function gatedPut(db: Kysely<Database>, row: ReportRow) {
  return db
    .insertInto('node_reports')
    .columns(['node_id', 'reported_at', 'disk', 'instances', 'report_epoch', 'report_seq'])
    .expression(
      sql`select ${row.node_id}::text, ${row.reported_at}::text, ${row.disk}::text,
        ${row.instances}::text, ${row.report_epoch}::text, ${row.report_seq}::integer
        from beaten`,
    )
    .onConflict((oc) => replacing(oc, row, sequenceOf(row)))
    .returning(sql<number>`1`.as('one'));
}

/** merge, changing the row only when the node's update matched. */
function gatedMerge(db: Kysely<Database>, delta: NodeReportDelta) {
  return mergeQuery(db, delta)
    .where(sql<SqlBool>`exists (select 1 from beaten)`)
    .returning(sql<number>`1`.as('one'));
}

/** The sequence a row was made with (reportRow keeps both or neither). */
function sequenceOf(row: ReportRow) {
  return row.report_epoch === null || row.report_seq === null
    ? undefined
    : { epoch: row.report_epoch, seq: row.report_seq };
}
