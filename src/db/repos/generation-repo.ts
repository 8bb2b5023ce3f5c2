import { sql, type Kysely, type Selectable } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { GenerationRepo, MarkChanges, NodeGeneration } from '../../ports/store.ts';
import type { Database, NodeGenerationsTable } from '../schema.ts';
import { bumpMarks, bumpMarksProbing, type MarkAudit } from './mark-bump.ts';
import { marksSince } from './mark-changes.ts';

type GenerationRow = Selectable<NodeGenerationsTable>;

export class KyselyGenerationRepo implements GenerationRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async get(nodeId: string): Promise<NodeGeneration | undefined> {
    const [row] = (await this.statements.execute(this.db, generationStatement, { nodeId })).rows;
    return row && fromRow(row);
  }

  /**
   * One statement on both dialects: an upsert whose update only fires when the digest differs,
   * so concurrent callers with the same content agree on one generation and callers with new
   * content each move it forward by exactly one.
   */
  async bump(nodeId: string, digest: string, at: string): Promise<NodeGeneration> {
    const params = { nodeId, digest, at };
    const [row] = (await this.statements.execute(this.db, bumpStatement, params)).rows;
    if (row) return fromRow(row);
    const current = await this.get(nodeId);
    // The update was skipped because the digest is already stored; a row that vanished in
    // between (nothing deletes them) would be a bug worth a loud failure.
    if (!current) throw new Error(`node_generations row for '${nodeId}' disappeared`);
    return current;
  }

  markChanged(scopes: readonly string[], audit?: MarkAudit): Promise<void> {
    return bumpMarks(this.db, this.statements, scopes, audit);
  }

  markChangedProbing(scopes: readonly string[], audit?: MarkAudit): Promise<boolean> {
    return bumpMarksProbing(this.db, this.statements, scopes, audit);
  }

  async marks(scopes: readonly string[]): Promise<number> {
    if (scopes.length === 0) return 0;
    const row = await this.db
      .selectFrom('document_marks')
      .select((eb) => eb.fn.sum<number | string | null>('seq').as('total'))
      .where('scope', 'in', [...scopes])
      .executeTakeFirst();
    // Postgres answers sum() of integers as a bigint, which pg hands over as a string.
    return Number(row?.total ?? 0);
  }

  allMarks(): Promise<Map<string, number>> {
    return this.readMarks();
  }

  marksOf(scopes: readonly string[]): Promise<Map<string, number>> {
    return scopes.length === 0 ? Promise.resolve(new Map()) : this.readMarks(scopes);
  }

  marksSince(since: number, limit: number): Promise<MarkChanges | undefined> {
    return marksSince(this.db, this.statements, since, limit);
  }

  /** Each mark by scope: these scopes' or, without them, every one. */
  private async readMarks(scopes?: readonly string[]): Promise<Map<string, number>> {
    if (scopes !== undefined && dialectOf(this.db) === 'postgres') {
      // One compiled shape whatever the number of scopes (a node's ~500 tenants): a named
      // prepared statement, not an IN list of 500 parameters parsed and planned each time.
      const params = { scopes: [...scopes] };
      const { rows } = await this.statements.execute(this.db, marksOfStatement, params);
      return new Map(rows.map((r) => [r.scope, Number(r.seq)]));
    }
    let query = this.db.selectFrom('document_marks').select(['scope', 'seq']);
    if (scopes !== undefined) query = query.where('scope', 'in', [...scopes]);
    const rows = await query.execute();
    return new Map(rows.map((r) => [r.scope, Number(r.seq)]));
  }
}

function fromRow(r: GenerationRow): NodeGeneration {
  return { nodeId: r.node_id, generation: r.generation, digest: r.digest, updatedAt: r.updated_at };
}

/** Postgres: the marks of a list of scopes, the list one array parameter. */
const marksOfStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { scopes: string[] }) =>
    db
      .selectFrom('document_marks')
      .select(['scope', 'seq'])
      .where(sql<boolean>`scope = ANY(${p.scopes}::text[])`),
});

/** A node's generation, compiled once (every issued document reads it). */
const generationStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { nodeId: string }) =>
    db.selectFrom('node_generations').selectAll().where('node_id', '=', p.nodeId),
});

/** `bump`'s upsert, compiled once (every document whose content changed runs it). */
const bumpStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { nodeId: string; digest: string; at: string }) =>
    db
      .insertInto('node_generations')
      .values({ node_id: p.nodeId, generation: 1, digest: p.digest, updated_at: p.at })
      .onConflict((oc) =>
        oc
          .column('node_id')
          .doUpdateSet((eb) => ({
            generation: eb('node_generations.generation', '+', 1),
            digest: eb.ref('excluded.digest'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          .where('node_generations.digest', '<>', p.digest),
      )
      .returningAll(),
});
