import { sql, type Kysely, type OnConflictBuilder, type Selectable } from 'kysely';
import { diskReportSchema, instanceSampleSchema } from '../../contract/node-report.ts';
import { sampleKey, sortSamples } from '../../core/report-delta.ts';
import type {
  NodeReport,
  NodeReportDelta,
  NodeReportRepo,
  ReportSequence,
} from '../../ports/store.ts';
import type { Database, NodeReportsTable } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';

export type ReportRow = Selectable<NodeReportsTable>;

const samplesSchema = instanceSampleSchema.array();

/**
 * One row per node. Its samples are a JSON object by `tenant/pool/instance`, so a delta
 * merges in one statement in the database (Postgres `jsonb` `-` and `||`, SQLite
 * `json_patch`) and the coordinator never parses the stored report to apply one.
 */
export class KyselyNodeReportRepo implements NodeReportRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async get(nodeId: string): Promise<NodeReport | undefined> {
    const row = await this.db
      .selectFrom('node_reports')
      .selectAll()
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async put(report: NodeReport, sequence?: ReportSequence): Promise<void> {
    const row = reportRow(report, sequence);
    await this.db
      .insertInto('node_reports')
      .values(row)
      .onConflict((oc) => replacing(oc, row, sequence))
      .execute();
  }

  async merge(delta: NodeReportDelta): Promise<boolean> {
    const result = await mergeQuery(this.db, delta).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

/**
 * put's conflict clause: the row takes the new report, unless it holds a later one of the same
 * run (a late beat never overwrites a later report).
 */
export function replacing(
  oc: OnConflictBuilder<Database, 'node_reports'>,
  row: ReportRow,
  sequence: ReportSequence | undefined,
) {
  const update = oc.column('node_id').doUpdateSet({
    reported_at: row.reported_at,
    disk: row.disk,
    instances: row.instances,
    report_epoch: row.report_epoch,
    report_seq: row.report_seq,
  });
  return sequence === undefined
    ? update
    : update.where((eb) =>
        eb.or([
          eb('node_reports.report_epoch', 'is', null),
          eb('node_reports.report_epoch', '<>', sequence.epoch),
          eb('node_reports.report_seq', '<', sequence.seq),
        ]),
      );
}

/**
 * merge's update, unexecuted (heartbeat-repo.ts runs it inside the one-statement heartbeat on
 * Postgres): it changes the row only when the stored report is the delta's base.
 */
export function mergeQuery(db: Kysely<Database>, delta: NodeReportDelta) {
  const changed = Object.fromEntries(delta.changed.map((s) => [sampleKey(s), s]));
  const gone = [...delta.removed.map(sampleKey), ...Object.keys(changed)];
  const postgres = dialectOf(db) === 'postgres';
  const instances = postgres
    ? sql<string>`((instances::jsonb - ${gone}::text[]) || ${JSON.stringify(changed)}::jsonb)::text`
    : sql<string>`json_patch(json_patch(instances, ${JSON.stringify(
        Object.fromEntries(gone.map((k) => [k, null])),
      )}), ${JSON.stringify(changed)})`;
  return (
    db
      .updateTable('node_reports')
      .set({
        reported_at: delta.reportedAt,
        instances,
        report_seq: delta.seq,
        ...(delta.disk ? { disk: JSON.stringify(delta.disk) } : {}),
      })
      .where('node_id', '=', delta.nodeId)
      .where('report_epoch', '=', delta.epoch)
      .where('report_seq', '=', delta.base)
      // Only onto samples by key: a replica from before 0034 rewrites them as an array and
      // leaves the sequence as it was (its next whole report then comes from the agent).
      .where(
        postgres ? sql`jsonb_typeof(instances::jsonb)` : sql`json_type(instances)`,
        '=',
        'object',
      )
  );
}

/** The row a whole report is stored as. */
export function reportRow(report: NodeReport, sequence: ReportSequence | undefined): ReportRow {
  return {
    node_id: report.nodeId,
    reported_at: report.reportedAt,
    disk: report.disk === null ? null : JSON.stringify(report.disk),
    instances: JSON.stringify(Object.fromEntries(report.instances.map((s) => [sampleKey(s), s]))),
    report_epoch: sequence?.epoch ?? null,
    report_seq: sequence?.seq ?? null,
  };
}

/**
 * Rows were validated on the way in; parsing again keeps a hand-edited row from lying. Rows
 * written before migration 0034 hold an array.
 */
function fromRow(row: ReportRow): NodeReport {
  const stored = JSON.parse(row.instances) as unknown;
  const samples = Array.isArray(stored) ? stored : Object.values(stored as object);
  return {
    nodeId: row.node_id,
    reportedAt: row.reported_at,
    disk: row.disk === null ? null : diskReportSchema.parse(JSON.parse(row.disk)),
    instances: sortSamples(samplesSchema.parse(samples)),
  };
}
