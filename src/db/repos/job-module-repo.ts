import type { Kysely } from 'kysely';
import { NotFoundError } from '../../core/errors.ts';
import type { JobModule, JobModuleRepo } from '../../ports/job-store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database } from '../schema.ts';

export class KyselyJobModuleRepo implements JobModuleRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async put(module: JobModule): Promise<boolean> {
    try {
      const result = await this.db
        .insertInto('job_modules')
        .values({
          tenant_id: module.tenantId,
          sha256: module.sha256,
          // better-sqlite3 binds Buffers, not plain Uint8Arrays; a view copies nothing.
          bytes: Buffer.from(module.bytes.buffer, module.bytes.byteOffset, module.bytes.length),
          size: module.bytes.length,
          created_at: module.createdAt,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'sha256']).doNothing())
        .executeTakeFirst();
      return result.numInsertedOrUpdatedRows === 1n;
    } catch (error) {
      throw translateConstraintError(error, {
        foreignKey: () => new NotFoundError('tenant', module.tenantId),
      });
    }
  }

  async get(tenantId: string, sha256: string): Promise<JobModule | undefined> {
    const row = await this.db
      .selectFrom('job_modules')
      .select(['tenant_id', 'sha256', 'bytes', 'created_at'])
      .where('tenant_id', '=', tenantId)
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      tenantId: row.tenant_id,
      sha256: row.sha256,
      bytes: new Uint8Array(row.bytes),
      createdAt: row.created_at,
    };
  }
}
