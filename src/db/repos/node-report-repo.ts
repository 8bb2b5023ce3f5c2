import type { Kysely, Selectable } from 'kysely';
import { diskReportSchema, instanceSampleSchema } from '../../contract/node-report.ts';
import type { NodeReport, NodeReportRepo } from '../../ports/store.ts';
import type { Database, NodeReportsTable } from '../schema.ts';

type ReportRow = Selectable<NodeReportsTable>;

const samplesSchema = instanceSampleSchema.array();

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

  async put(report: NodeReport): Promise<void> {
    const row = toRow(report);
    await this.db
      .insertInto('node_reports')
      .values(row)
      .onConflict((oc) =>
        oc.column('node_id').doUpdateSet({
          reported_at: row.reported_at,
          disk: row.disk,
          instances: row.instances,
        }),
      )
      .execute();
  }
}

function toRow(report: NodeReport): ReportRow {
  return {
    node_id: report.nodeId,
    reported_at: report.reportedAt,
    disk: report.disk === null ? null : JSON.stringify(report.disk),
    instances: JSON.stringify(report.instances),
  };
}

/** Rows were validated on the way in; parsing again keeps a hand-edited row from lying. */
function fromRow(row: ReportRow): NodeReport {
  return {
    nodeId: row.node_id,
    reportedAt: row.reported_at,
    disk: row.disk === null ? null : diskReportSchema.parse(JSON.parse(row.disk)),
    instances: samplesSchema.parse(JSON.parse(row.instances)),
  };
}
