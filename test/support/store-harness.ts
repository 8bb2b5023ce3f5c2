import { afterEach, beforeEach, describe } from 'vitest';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { databasesUnderTest } from './databases.ts';
import type { DatabaseName, TestDatabase } from './databases.ts';

/** What a store test sees: a fresh, migrated store per test, and its URL for reopening. */
export interface StoreHarness {
  name: DatabaseName;
  store(): Store;
  url(): string;
  /** Opens another store on the same database; closed after the test. */
  reopen(): Promise<Store>;
  /** Another empty, unmigrated database of the same kind; dropped after the test. */
  fresh(): Promise<TestDatabase>;
}

/** Defines `body` once per database (SQLite and Postgres); unavailable ones are skipped. */
export async function describeEachDatabase(
  title: string,
  body: (harness: StoreHarness) => void,
): Promise<void> {
  for (const target of await databasesUnderTest()) {
    describe.skipIf(target.skipReason !== undefined)(`${title} [${target.name}]`, () => {
      let database: TestDatabase | undefined;
      let stores: Store[] = [];
      let extras: TestDatabase[] = [];
      beforeEach(async () => {
        database = await target.open();
        stores = [await openStore(database.url)];
      });
      afterEach(async () => {
        for (const store of stores.reverse()) await store.close();
        stores = [];
        await database?.cleanup();
        database = undefined;
        for (const extra of extras) await extra.cleanup();
        extras = [];
      });
      body({
        name: target.name,
        store: () => required(stores[0], 'store'),
        url: () => required(database, 'database').url,
        async reopen() {
          const store = await openStore(required(database, 'database').url);
          stores.push(store);
          return store;
        },
        async fresh() {
          const extra = await target.open();
          extras.push(extra);
          return extra;
        },
      });
    });
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}: use the harness inside a test`);
  return value;
}
