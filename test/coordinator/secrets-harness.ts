/**
 * An in-process coordinator with tenants, pools and a node running some of them, for the
 * secrets and pool config tests; every log line is kept, to look for values in.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { expect } from 'vitest';
import type { Keyring } from '../../src/coordinator/secrets/keyring.ts';
import { staticKeyring } from '../../src/coordinator/secrets/keyring.ts';
import { newMasterKey } from '../../src/coordinator/secrets/secret-box.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { Store } from '../../src/ports/store.ts';
import { apiOver, ok, type Api } from './api-client-harness.ts';

type Json = Record<string, unknown>;

export interface SecretsWorld {
  api: Api;
  logs: string[];
  keyring: Keyring;
  /** A token of tenant acme. */
  acmeToken: string;
}

function capturingLogger(lines: string[]): Logger {
  const keep = (obj: object, msg?: string) => lines.push(JSON.stringify({ obj, msg }));
  return { debug: keep, info: keep, warn: keep, error: keep };
}

const facts = {
  hostname: 'h',
  arch: 'x86_64',
  capacity: { vcpus: 16, memMib: 32768, diskGib: 100 },
};

/**
 * Tenants acme and rival; acme has pools web (worker), gw (gateway) and build (builder);
 * node n1 runs one instance of acme/web and of rival/app, node n2 runs nothing.
 */
export async function secretsWorld(
  store: Store,
  keyring: Keyring = staticKeyring([newMasterKey()], 'test'),
): Promise<SecretsWorld> {
  const logs: string[] = [];
  const api = await apiOver(store, { logger: capturingLogger(logs), secretsKeyring: keyring });
  await ok(api, 'PUT', '/nodes/n1', facts);
  for (const id of ['acme', 'rival']) await ok(api, 'POST', '/tenants', { id });
  const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
  await ok(api, 'POST', '/tenants/acme/pools', { id: 'web', ...pool });
  await ok(api, 'POST', '/tenants/acme/pools', { id: 'gw', role: 'gateway', ...pool });
  await ok(api, 'POST', '/tenants/acme/pools', { id: 'build', role: 'builder', ...pool });
  await ok(api, 'POST', '/tenants/rival/pools', { id: 'app', ...pool });
  await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
  await ok(api, 'POST', '/tenants/rival/pools/app/scale', { running: 1 });
  await ok(api, 'POST', '/scheduler/run');
  // Registered after placement: it runs nothing.
  await ok(api, 'PUT', '/nodes/n2', facts);
  const issued = (await ok(api, 'POST', '/tenants/acme/tokens', { name: 'ci' })) as Json;
  return { api, logs, keyring, acmeToken: String(issued.token) };
}

/** The store's bytes as they sit at rest: the SQLite file and its journal, or every Postgres row. */
export async function storeAtRest(url: string): Promise<string> {
  if (!url.startsWith('postgres')) {
    const files = await Promise.all(
      ['', '-wal', '-journal'].map((suffix) =>
        readFile(`${url}${suffix}`).catch(() => Buffer.alloc(0)),
      ),
    );
    return Buffer.concat(files).toString('latin1');
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public'",
    );
    const rows: unknown[] = [];
    for (const { table_name: table } of tables.rows) {
      rows.push((await client.query(`select * from "${table}"`)).rows);
    }
    return JSON.stringify(rows);
  } finally {
    await client.end();
  }
}

/** Nothing observable holds any of `values`, nor their base64 form. */
export function expectNoValues(values: readonly string[], ...observed: unknown[]): void {
  const text = JSON.stringify(observed);
  for (const value of values) {
    expect(text).not.toContain(value);
    expect(text).not.toContain(Buffer.from(value).toString('base64'));
  }
}
