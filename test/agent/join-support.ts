import { join } from 'node:path';

/** A SQLite file in a fresh temp directory (the agent-side join tests need no Postgres). */
export async function testDatabaseFile(tempDir: (prefix: string) => Promise<string>) {
  return join(await tempDir('mvm-join-db-'), 'coordinator.sqlite');
}
