import type { Kysely } from 'kysely';
import { UnavailableError } from '../../core/errors.ts';
import { IDENTITY_SLOTS, lowestFreeSlot } from '../../core/vm-identity.ts';
import type { AgentDatabase } from './schema.ts';

/**
 * The identity slot of each instance (core/vm-identity.ts), kept in the agent's SQLite so an
 * instance keeps its uid across restarts, sleeps and wakes, and frees it when destroyed.
 */
export class IdentityRepo {
  constructor(private readonly db: Kysely<AgentDatabase>) {}

  /** The instance's slot, allocated (lowest free) on first use. */
  async ensure(key: string): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const held = await this.slotOf(key);
      if (held !== undefined) return held;
      const rows = await this.db.selectFrom('vm_identities').select('slot').execute();
      const slot = lowestFreeSlot(rows.map((r) => r.slot));
      if (slot === undefined) {
        throw new UnavailableError(
          `all ${IDENTITY_SLOTS} VMM identities of this host are in use; destroy instances first`,
        );
      }
      // Two keys racing for one slot: the unique index lets one win, the other tries again.
      await this.db
        .insertInto('vm_identities')
        .values({ key, slot })
        .onConflict((c) => c.doNothing())
        .execute();
    }
    throw new UnavailableError(`could not allocate a VMM identity for '${key}'; retry`);
  }

  async slotOf(key: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('vm_identities')
      .select('slot')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.slot;
  }

  async release(key: string): Promise<void> {
    await this.db.deleteFrom('vm_identities').where('key', '=', key).execute();
  }

  /** Frees the slots of keys no instance record owns (a crash between destroy's steps). */
  async releaseUnowned(owned: ReadonlySet<string>): Promise<string[]> {
    const rows = await this.db.selectFrom('vm_identities').select('key').execute();
    const stale = rows.map((r) => r.key).filter((key) => !owned.has(key));
    for (const key of stale) await this.release(key);
    return stale;
  }
}
