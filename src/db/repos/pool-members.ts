import { sql, type Kysely, type Selectable } from 'kysely';
import { InternalError } from '../../core/errors.ts';
import { idleSlots } from '../../core/idle-policy.ts';
import { desiredStatuses, instanceStatuses } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstancesTable } from '../schema.ts';

/**
 * A pool's instances as a change of its intent weighs them (the materializer, the quota
 * check, the compare-and-set writes, the raises' room): only those columns, by the primary
 * key's range, in id order. A scale reads its pool's rows on every call; the full rows
 * (addresses, revisions, request ids, times of creation) were most of what it parsed.
 */
export async function poolMembers(
  db: Kysely<Database>,
  tenantId: string,
  poolId: string,
): Promise<PoolMember[]> {
  const rows = await db
    .selectFrom('instances')
    .select(MEMBER_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('pool_id', '=', poolId)
    .orderBy('tenant_id')
    .orderBy('pool_id')
    .orderBy('id')
    .execute();
  return rows.map((r) => poolMember(tenantId, poolId, r));
}

/** The columns of a pool member, as `poolMembers` selects them. */
export const MEMBER_COLUMNS = [
  'id',
  'status',
  'desired_status',
  'node_id',
  'status_since',
  'last_active_at',
  'pressure_slept_at',
  'idle_slot',
  'version',
] as const;

export type MemberRow = Pick<Selectable<InstancesTable>, (typeof MEMBER_COLUMNS)[number]>;

/** A member of `tenantId`'s pool `poolId` from its columns (values checked as a row's are). */
export function poolMember(tenantId: string, poolId: string, r: MemberRow): PoolMember {
  return {
    tenantId,
    poolId,
    id: r.id,
    status: oneOf(instanceStatuses, r.status, 'instances.status'),
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
    nodeId: r.node_id,
    statusSince: r.status_since,
    lastActiveAt: r.last_active_at,
    pressureSleptAt: r.pressure_slept_at,
    idleSlot: r.idle_slot === null ? null : oneOf(idleSlots, r.idle_slot, 'instances.idle_slot'),
    version: r.version,
  };
}

/** After each field of `membersText` but the last: no value holds it. */
const SEPARATOR = '\x1f';

/** The columns that may be null: an empty field in `membersText` (none is stored empty). */
const NULLABLE: ReadonlySet<string> = new Set<(typeof MEMBER_COLUMNS)[number]>([
  'node_id',
  'status_since',
  'last_active_at',
  'pressure_slept_at',
  'idle_slot',
]);

/**
 * Postgres: a pool's members (`MEMBER_COLUMNS`, in that order) aggregated into one text in id
 * order, a unit separator (U+001F) between any two fields, null an empty field; null for no
 * member. One value where there were 200 rows: pg spent ~4 µs of the coordinator's CPU on each
 * row (a message, an event, an object), and Postgres about the same on either. Every value is
 * an id, a status or slot word, ISO text or an integer: none holds the separator or is stored
 * empty. One separator, so the coordinator splits the text once (a split per member cost more
 * than the rows' objects); `membersOfText` checks each member's fields.
 */
export function membersText() {
  const fields = MEMBER_COLUMNS.map((column) =>
    NULLABLE.has(column) ? sql`COALESCE(${sql.ref(column)}, '')` : sql`${sql.ref(column)}::text`,
  );
  const separated = sql.join(fields, sql`, `);
  return sql<
    string | null
  >`string_agg(concat_ws(${sql.lit(SEPARATOR)}, ${separated}), ${sql.lit(SEPARATOR)} ORDER BY ${sql.ref('id')})`.as(
    'members',
  );
}

/**
 * The members `membersText` aggregated, as `poolMembers` answers them. Read field by field in
 * place: a status or slot word is matched where it stands and answered as the model's own
 * constant, an empty field is null, the version is read digit by digit, so only ids, node ids
 * and times become strings of their own. Splitting the text made an array and a string of
 * every field, 1,800 for a pool of 200: most of what a scale's read allocated
 * (docs/scale.md, "What a toggle allocates").
 */
export function membersOfText(tenantId: string, poolId: string, text: string | null): PoolMember[] {
  if (text === null) return [];
  const fields = new FieldReader(text);
  const members: PoolMember[] = [];
  do {
    const id = fields.text();
    const status = fields.word(instanceStatuses, 'instances.status');
    const desiredStatus = fields.word(desiredStatuses, 'instances.desired_status');
    const nodeId = fields.textOrNull();
    const statusSince = fields.textOrNull();
    const lastActiveAt = fields.textOrNull();
    const pressureSleptAt = fields.textOrNull();
    const idleSlot = fields.wordOrNull(idleSlots, 'instances.idle_slot');
    const version = fields.integer();
    if (id === '' || version === undefined) {
      throw new InternalError(`a pool member came back without its id or version`, { text });
    }
    members.push({
      tenantId,
      poolId,
      id,
      status,
      desiredStatus,
      nodeId,
      statusSince,
      lastActiveAt,
      pressureSleptAt,
      idleSlot,
      version,
    });
  } while (!fields.done());
  return members;
}

/**
 * A cursor over `membersText`'s fields: each read takes the next field and its separator. The
 * field's bounds are kept on the cursor (`start`, `end`), not answered as a pair: a pair for
 * every field cost as much as the split did.
 */
class FieldReader {
  private at = 0;
  private count = 0;
  private start = 0;
  private end = 0;

  constructor(private readonly source: string) {}

  done(): boolean {
    return this.at > this.source.length;
  }

  text(): string {
    this.next();
    return this.source.slice(this.start, this.end);
  }

  textOrNull(): string | null {
    this.next();
    return this.start === this.end ? null : this.source.slice(this.start, this.end);
  }

  word<T extends string>(allowed: readonly T[], column: string): T {
    this.next();
    return this.wordHere(allowed, column);
  }

  wordOrNull<T extends string>(allowed: readonly T[], column: string): T | null {
    this.next();
    return this.start === this.end ? null : this.wordHere(allowed, column);
  }

  /** A whole number of at most 15 digits; undefined for anything else. */
  integer(): number | undefined {
    this.next();
    const { start, end } = this;
    if (start === end || end - start > 15) return undefined;
    let value = 0;
    for (let i = start; i < end; i += 1) {
      const digit = this.source.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    return value;
  }

  /** The field read last as one of `allowed`, that constant itself. */
  private wordHere<T extends string>(allowed: readonly T[], column: string): T {
    const length = this.end - this.start;
    for (const word of allowed) {
      if (word.length === length && this.source.startsWith(word, this.start)) return word;
    }
    return oneOf(allowed, this.source.slice(this.start, this.end), column);
  }

  /** Moves to the next field; a member cut short fails as the whole text's field count. */
  private next(): void {
    if (this.done()) {
      throw new InternalError(
        `a pool's members came back as ${this.count} fields, not a multiple of ${MEMBER_COLUMNS.length}`,
        { text: this.source },
      );
    }
    this.start = this.at;
    const found = this.source.indexOf(SEPARATOR, this.start);
    this.end = found === -1 ? this.source.length : found;
    this.at = this.end + 1;
    this.count += 1;
  }
}
