import { join } from 'node:path';
import { privateDir, tightenMode, type Tightened } from '../drivers/fs/private-files.ts';

/** Directories below the data dir that hold keys: the CA's and the server certificate's. */
const KEY_DIRS = ['ca', 'tls'];

/**
 * Secrets the coordinator keeps in its data dir, and the logs the quickstart writes there
 * (they name every tenant and instance). The SQLite store is seen to where it is opened.
 */
const PRIVATE_FILES = [
  'admin.token',
  'signing.key',
  'secrets.key',
  join('ca', 'ca.key'),
  join('tls', 'server.key'),
  'coordinator.log',
  'agent.log',
];

/**
 * The data dir holds the CA and signing keys, the admin token and by default the SQLite
 * store, so only its owner may enter it: created 0700, or tightened to 0700 on start (as are
 * ca/ and tls/), with the files above 0600. Returns what it had to tighten, for the log.
 */
export function secureDataDir(dataDir: string): Tightened[] {
  return [
    privateDir(dataDir),
    ...KEY_DIRS.map((dir) => tightenMode(join(dataDir, dir), 0o700)),
    ...PRIVATE_FILES.map((file) => tightenMode(join(dataDir, file), 0o600)),
  ].filter((tightened) => tightened !== undefined);
}
