import type { Kysely, Selectable } from 'kysely';
import type { AuditEvent } from '../../core/model.ts';
import type { AuditRepo } from '../../ports/store.ts';
import { jsonObject } from '../row-values.ts';
import type { AuditEventsTable, Database } from '../schema.ts';

type AuditRow = Selectable<AuditEventsTable>;

/** An audit event as its row is inserted (by `append`, or beside a write's marks). */
export function auditRow(event: Omit<AuditEvent, 'id'>) {
  return {
    tenant_id: event.tenantId,
    at: event.at,
    actor: event.actor,
    action: event.action,
    target: event.target,
    detail: JSON.stringify(event.detail),
  };
}

export class KyselyAuditRepo implements AuditRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async append(event: Omit<AuditEvent, 'id'>): Promise<AuditEvent> {
    const row = await this.db
      .insertInto('audit_events')
      .values(auditRow(event))
      .returningAll()
      .executeTakeFirstOrThrow();
    return fromRow(row);
  }

  /** Newest first (by id, which only grows), at most `limit` events. */
  async list(filter: {
    tenantId?: string;
    limit: number;
    beforeId?: number;
  }): Promise<AuditEvent[]> {
    let query = this.db.selectFrom('audit_events').selectAll();
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    const rows = await query.orderBy('id', 'desc').limit(Math.max(0, filter.limit)).execute();
    return rows.map(fromRow);
  }

  async since(filter: {
    tenantId?: string;
    afterId: number;
    limit: number;
  }): Promise<AuditEvent[]> {
    let query = this.db.selectFrom('audit_events').selectAll().where('id', '>', filter.afterId);
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    const rows = await query.orderBy('id', 'asc').limit(Math.max(0, filter.limit)).execute();
    return rows.map(fromRow);
  }
}

function fromRow(r: AuditRow): AuditEvent {
  return {
    // Postgres returns bigint ids as strings unless the pool parses them (open-store does).
    id: Number(r.id),
    tenantId: r.tenant_id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    detail: jsonObject(r.detail, 'audit_events.detail'),
  };
}
