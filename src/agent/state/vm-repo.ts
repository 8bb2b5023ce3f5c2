import type { Kysely, Selectable } from 'kysely';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import type { InstanceStatus } from '../../core/model.ts';
import type { StoredSpec } from '../../contract/agent-api.ts';
import type { SnapshotRef, VmHandle } from '../../ports/vmm.ts';
import type { AgentDatabase, LocalVmsTable } from './schema.ts';

export interface ConfigDrive {
  version: string;
  files: Record<string, string>;
}

/** One VM this host owns, as the runtime sees it. */
export interface VmRecord {
  key: string;
  tenantId: string;
  poolId: string;
  instanceId: string;
  spec: StoredSpec;
  secrets: Record<string, string>;
  config: ConfigDrive | null;
  status: InstanceStatus;
  intent: string | null;
  handle: VmHandle | null;
  snapshot: SnapshotRef | null;
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** Fields a compare-and-set may change; `status` changes are checked against `expect`. */
export type VmChange = Partial<
  Pick<
    VmRecord,
    'status' | 'intent' | 'handle' | 'snapshot' | 'failureReason' | 'spec' | 'secrets' | 'config'
  >
>;

type Row = Selectable<LocalVmsTable>;

/**
 * Local VM records; every update is a compare-and-set on (status, version). One agent
 * process owns a data dir, so rows it wrote are served from memory (a pause is ~2 ms; a read
 * per action was a fifth of that); writes always go to SQLite and are checked there.
 */
export class VmRepo {
  private readonly known = new Map<string, VmRecord>();

  constructor(private readonly db: Kysely<AgentDatabase>) {}

  async get(key: string): Promise<VmRecord | undefined> {
    const cached = this.known.get(key);
    if (cached) return cached;
    const row = await this.db
      .selectFrom('local_vms')
      .selectAll()
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row) return undefined;
    const record = fromRow(row);
    this.known.set(key, record);
    return record;
  }

  async require(key: string): Promise<VmRecord> {
    const record = await this.get(key);
    if (!record)
      throw new NotFoundError(
        'local instance',
        key,
        'create it first with PUT (mvm agent instance put)',
      );
    return record;
  }

  async list(): Promise<VmRecord[]> {
    const rows = await this.db.selectFrom('local_vms').selectAll().orderBy('key').execute();
    const records = rows.map(fromRow);
    for (const record of records) this.known.set(record.key, record);
    return records;
  }

  async insert(record: Omit<VmRecord, 'version' | 'updatedAt'>): Promise<VmRecord> {
    const full: VmRecord = { ...record, updatedAt: record.createdAt, version: 1 };
    await this.db.insertInto('local_vms').values(toRow(full)).execute();
    this.known.set(full.key, full);
    return full;
  }

  /**
   * Applies `change` only if the stored row is still at `expected.version` (which pins its
   * status too): a lost race is a ConflictError, never a silent overwrite.
   */
  async update(expected: VmRecord, change: VmChange, now: Date): Promise<VmRecord> {
    const next: VmRecord = {
      ...expected,
      ...change,
      updatedAt: now.toISOString(),
      version: expected.version + 1,
    };
    const result = await this.db
      .updateTable('local_vms')
      .set(changedColumns(next, change))
      .where('key', '=', expected.key)
      .where('version', '=', expected.version)
      .where('status', '=', expected.status)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      this.known.delete(expected.key);
      throw new ConflictError(
        `local instance '${expected.key}' changed underneath (expected ${expected.status} v${expected.version}); retry`,
        { key: expected.key },
      );
    }
    this.known.set(next.key, next);
    return next;
  }

  async delete(expected: VmRecord): Promise<void> {
    this.known.delete(expected.key);
    await this.db
      .deleteFrom('local_vms')
      .where('key', '=', expected.key)
      .where('version', '=', expected.version)
      .execute();
  }
}

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const text = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);

function fromRow(row: Row): VmRecord {
  return {
    key: row.key,
    tenantId: row.tenant_id,
    poolId: row.pool_id,
    instanceId: row.instance_id,
    spec: JSON.parse(row.spec) as StoredSpec,
    secrets: JSON.parse(row.secrets) as Record<string, string>,
    config: json<ConfigDrive>(row.config),
    status: row.status as InstanceStatus,
    intent: row.intent,
    handle: json<VmHandle>(row.handle),
    snapshot: json<SnapshotRef>(row.snapshot),
    failureReason: row.failure_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

/** Only what `change` touches, plus the version stamp: pause and resume write few columns. */
function changedColumns(next: VmRecord, change: VmChange): Partial<Row> {
  const columns: Partial<Row> = { updated_at: next.updatedAt, version: next.version };
  if ('status' in change) columns.status = next.status;
  if ('intent' in change) columns.intent = next.intent;
  if ('handle' in change) columns.handle = text(next.handle);
  if ('snapshot' in change) columns.snapshot = text(next.snapshot);
  if ('failureReason' in change) columns.failure_reason = next.failureReason;
  if ('spec' in change) columns.spec = JSON.stringify(next.spec);
  if ('secrets' in change) columns.secrets = JSON.stringify(next.secrets);
  if ('config' in change) columns.config = text(next.config);
  return columns;
}

function toRow(record: VmRecord): Row {
  return {
    key: record.key,
    tenant_id: record.tenantId,
    pool_id: record.poolId,
    instance_id: record.instanceId,
    spec: JSON.stringify(record.spec),
    secrets: JSON.stringify(record.secrets),
    config: text(record.config),
    status: record.status,
    intent: record.intent,
    handle: text(record.handle),
    snapshot: text(record.snapshot),
    failure_reason: record.failureReason,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    version: record.version,
  };
}
