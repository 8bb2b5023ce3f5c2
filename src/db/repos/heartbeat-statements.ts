import { sql, type Kysely, type OnConflictBuilder, type SqlBool } from 'kysely';
import { sampleKey } from '../../core/report-delta.ts';
import type { NodeBeat, NodeReportDelta } from '../../ports/store.ts';
import { compiledStatement } from '../compiled-statement.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { ReportRow } from './node-report-repo.ts';

/**
 * A heartbeat's statements, each defined once and compiled once per shape
 * (compiled-statement.ts): the node's conditional update, the whole report's upsert, the
 * delta's merge, the generation read, and on Postgres the one statement that does them all
 * (heartbeat-repo.ts). Their values arrive as parameters, their structure from a shape.
 */

/** A beat's values: the node's update matches only when its capacity is as stored. */
export interface BeatParams {
  id: string;
  lastHeartbeat: string;
  usage: string;
  vcpus: number;
  memMib: number;
  diskGib: number;
  underlayIp?: string;
}

export function beatParams(id: string, fields: NodeBeat): BeatParams {
  return {
    id,
    lastHeartbeat: fields.lastHeartbeat,
    usage: JSON.stringify(fields.usage),
    vcpus: fields.capacity.vcpus,
    memMib: fields.capacity.memMib,
    diskGib: fields.capacity.diskGib,
    ...(fields.underlayIp !== undefined ? { underlayIp: fields.underlayIp } : {}),
  };
}

const beatShape = (p: BeatParams) => ({ underlay: p.underlayIp !== undefined });

function buildBeat(db: Kysely<Database>, shape: { underlay: boolean }, p: BeatParams) {
  let query = db
    .updateTable('nodes')
    .set((eb) => ({
      last_heartbeat: p.lastHeartbeat,
      usage: p.usage,
      version: eb('version', '+', 1),
    }))
    .where('id', '=', p.id)
    .where('status', '!=', 'lost')
    .where('vcpus', '=', p.vcpus)
    .where('mem_mib', '=', p.memMib)
    .where('disk_gib', '=', p.diskGib);
  if (shape.underlay) query = query.where('underlay_ip', '=', p.underlayIp as string);
  return query.returningAll();
}

/** The node's update: its row when it matched (known, not lost, capacity unchanged). */
export const beatStatement = compiledStatement({ shape: beatShape, build: buildBeat });

const putShape = (p: ReportRow) => ({
  sequenced: p.report_epoch !== null && p.report_seq !== null,
});

/** A whole report's upsert. */
function buildPut(db: Kysely<Database>, shape: { sequenced: boolean }, p: ReportRow) {
  // Every column named: the placeholders compile() builds with cannot be enumerated.
  const row: ReportRow = {
    node_id: p.node_id,
    reported_at: p.reported_at,
    disk: p.disk,
    instances: p.instances,
    report_epoch: p.report_epoch,
    report_seq: p.report_seq,
  };
  return db.insertInto('node_reports').values(row).onConflict(replacing(shape, p));
}

/**
 * The upsert's conflict clause: the row takes the new report, unless it holds a later one of
 * the same run (a late beat never overwrites a later report).
 */
function replacing(shape: { sequenced: boolean }, p: ReportRow) {
  return (oc: OnConflictBuilder<Database, 'node_reports'>) => {
    const update = oc.column('node_id').doUpdateSet({
      reported_at: p.reported_at,
      disk: p.disk,
      instances: p.instances,
      report_epoch: p.report_epoch,
      report_seq: p.report_seq,
    });
    return shape.sequenced
      ? update.where((eb) =>
          eb.or([
            eb('node_reports.report_epoch', 'is', null),
            eb('node_reports.report_epoch', '<>', p.report_epoch as string),
            eb('node_reports.report_seq', '<', p.report_seq as number),
          ]),
        )
      : update;
  };
}

/** A whole report's upsert (nodeReports.put). */
export const putStatement = compiledStatement({ shape: putShape, build: buildPut });

/** A delta's values; `gone` (Postgres) and `goneNulls` (SQLite) say the same keys. */
export interface MergeParams {
  nodeId: string;
  reportedAt: string;
  epoch: string;
  base: number;
  seq: number;
  gone: string[];
  goneNulls: string;
  changed: string;
  disk?: string;
}

export function mergeParams(delta: NodeReportDelta): MergeParams {
  const changed = Object.fromEntries(delta.changed.map((s) => [sampleKey(s), s]));
  const gone = [...delta.removed.map(sampleKey), ...Object.keys(changed)];
  return {
    nodeId: delta.nodeId,
    reportedAt: delta.reportedAt,
    epoch: delta.epoch,
    base: delta.base,
    seq: delta.seq,
    gone,
    goneNulls: JSON.stringify(Object.fromEntries(gone.map((k) => [k, null]))),
    changed: JSON.stringify(changed),
    ...(delta.disk ? { disk: JSON.stringify(delta.disk) } : {}),
  };
}

const mergeShape = (p: MergeParams) => ({ disk: p.disk !== undefined });

/** The merge's update: it changes the row only when the stored report is the delta's base. */
function buildMergeUpdate(db: Kysely<Database>, shape: { disk: boolean }, p: MergeParams) {
  const postgres = dialectOf(db) === 'postgres';
  const instances = postgres
    ? sql<string>`((instances::jsonb - ${p.gone}::text[]) || ${p.changed}::jsonb)::text`
    : sql<string>`json_patch(json_patch(instances, ${p.goneNulls}), ${p.changed})`;
  return (
    db
      .updateTable('node_reports')
      .set({
        reported_at: p.reportedAt,
        instances,
        report_seq: p.seq,
        ...(shape.disk ? { disk: p.disk as string } : {}),
      })
      .where('node_id', '=', p.nodeId)
      .where('report_epoch', '=', p.epoch)
      .where('report_seq', '=', p.base)
      // Only onto samples by key: a replica from before 0034 rewrites them as an array and
      // leaves the sequence as it was (its next whole report then comes from the agent).
      .where(
        postgres ? sql`jsonb_typeof(instances::jsonb)` : sql`json_type(instances)`,
        '=',
        'object',
      )
  );
}

/** A delta's merge (nodeReports.merge): one row changed when its base was stored. */
export const mergeStatement = compiledStatement({ shape: mergeShape, build: buildMergeUpdate });

/** The node's generation row. */
export const generationStatement = compiledStatement({
  shape: () => ({}),
  build: (db: Kysely<Database>, _: object, p: { id: string }) =>
    db.selectFrom('node_generations').selectAll().where('node_id', '=', p.id),
});

/**
 * The one-statement heartbeat on Postgres: the node's update, then the report's write gated on
 * it having matched (`from beaten` / `exists`), then the generation read.
 */
function buildOneBeat<P extends BeatParams>(
  db: Kysely<Database>,
  beat: { underlay: boolean },
  p: P,
  written: (db: Kysely<Database>) => ReturnType<typeof gatedPut> | ReturnType<typeof gatedMerge>,
) {
  return db
    .with('beaten', () => buildBeat(db, beat, p))
    .with('written', () => written(db))
    .selectFrom('beaten')
    .selectAll('beaten')
    .select([
      sql<boolean>`exists (select 1 from written)`.as('written'),
      sql<number | null>`(select generation from node_generations where node_id = ${p.id})`.as(
        'generation',
      ),
    ]);
}

/** put, inserting only when the node's update matched (a row of `beaten`). */
function gatedPut(db: Kysely<Database>, shape: { sequenced: boolean }, p: ReportRow) {
  const insert = db
    .insertInto('node_reports')
    .columns(['node_id', 'reported_at', 'disk', 'instances', 'report_epoch', 'report_seq'])
    .expression(
      sql`select ${p.node_id}::text, ${p.reported_at}::text, ${p.disk}::text,
        ${p.instances}::text, ${p.report_epoch}::text, ${p.report_seq}::integer
        from beaten`,
    );
  return insert.onConflict(replacing(shape, p)).returning(sql<number>`1`.as('one'));
}

/** merge, changing the row only when the node's update matched. */
function gatedMerge(db: Kysely<Database>, shape: { disk: boolean }, p: MergeParams) {
  return buildMergeUpdate(db, shape, p)
    .where(sql<SqlBool>`exists (select 1 from beaten)`)
    .returning(sql<number>`1`.as('one'));
}

/** A beat with a whole report, in one statement (Postgres). */
export const wholeBeatStatement = compiledStatement({
  shape: (p: BeatParams & ReportRow) => ({ ...beatShape(p), ...putShape(p) }),
  build: (
    db: Kysely<Database>,
    s: { underlay: boolean; sequenced: boolean },
    p: BeatParams & ReportRow,
  ) => buildOneBeat(db, s, p, () => gatedPut(db, s, p)),
});

/** A beat with a delta, in one statement (Postgres). */
export const deltaBeatStatement = compiledStatement({
  shape: (p: BeatParams & MergeParams) => ({ ...beatShape(p), ...mergeShape(p) }),
  build: (
    db: Kysely<Database>,
    s: { underlay: boolean; disk: boolean },
    p: BeatParams & MergeParams,
  ) => buildOneBeat(db, s, p, () => gatedMerge(db, s, p)),
});
