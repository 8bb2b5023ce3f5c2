import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { privateSqliteFile } from '../../drivers/fs/private-files.ts';
import { IdentityRepo } from './identity-repo.ts';
import { migrateAgentDb } from './migrations.ts';
import type { AgentDatabase } from './schema.ts';
import { VmRepo } from './vm-repo.ts';

export interface AgentDb {
  vms: VmRepo;
  identities: IdentityRepo;
  close(): Promise<void>;
}

/**
 * Opens (creating) the agent's own SQLite file and migrates it. WAL with synchronous=NORMAL:
 * a commit survives a kill -9 of the agent (it is in the WAL before the call returns), and
 * costs no fsync (FULL doubled the cost of pause/resume). Only a host power loss can drop the
 * last commits, and that also ends every VM; recovery then marks them failed, never lost.
 */
export async function openAgentDb(
  path: string,
  logger?: { warn(obj: object, msg: string): void },
): Promise<AgentDb> {
  // Holds secrets: readable by root only, -wal and -shm too, also on an older install.
  for (const tightened of privateSqliteFile(path)) {
    logger?.warn({ ...tightened }, 'agent state file was readable by others; tightened its mode');
  }
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<AgentDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrateAgentDb(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  let closed = false;
  return {
    vms: new VmRepo(db),
    identities: new IdentityRepo(db),
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
