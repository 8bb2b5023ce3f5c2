import type { Kysely, Selectable } from 'kysely';
import { diskReportSchema, instanceSampleSchema } from '../../contract/node-report.ts';
import { sampleKey, sortSamples } from '../../core/report-delta.ts';
import type {
  NodeReport,
  NodeReportDelta,
  NodeReportRepo,
  ReportSequence,
} from '../../ports/store.ts';
import type { CompiledStatements } from '../compiled-statement.ts';
import type { Database, NodeReportsTable } from '../schema.ts';
import { mergeParams, mergeStatement, putStatement } from './heartbeat-statements.ts';

export type ReportRow = Selectable<NodeReportsTable>;

const samplesSchema = instanceSampleSchema.array();

/**
 * One row per node. Its samples are a JSON object by `tenant/pool/instance`, so a delta
 * merges in one statement in the database (Postgres `jsonb` `-` and `||`, SQLite
 * `json_patch`) and the coordinator never parses the stored report to apply one.
 */
export class KyselyNodeReportRepo implements NodeReportRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async get(nodeId: string): Promise<NodeReport | undefined> {
    const row = await this.db
      .selectFrom('node_reports')
      .selectAll()
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async put(report: NodeReport, sequence?: ReportSequence): Promise<void> {
    await this.statements.execute(this.db, putStatement, reportRow(report, sequence));
  }

  async merge(delta: NodeReportDelta): Promise<boolean> {
    const result = await this.statements.execute(this.db, mergeStatement, mergeParams(delta));
    return (result.numAffectedRows ?? 0n) > 0n;
  }
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
