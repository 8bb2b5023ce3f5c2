/**
 * The fleet the in-process benches measure against: a fresh database of the given kind (or one
 * seeded already, `url`), a store on it, a coordinator in the bench's own process, and
 * fleet-seed's nodes, tenants and placed running instances.
 */
import { openStore, type OpenStoreOptions } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import {
  freshDatabase,
  seedInstances,
  seedNodes,
  seedTenants,
  type BenchDatabase,
  type FleetShape,
  type StoreName,
} from './fleet-seed.ts';
import {
  inProcessCoordinator,
  type InProcessCoordinator,
  type InProcessOptions,
} from './in-process-coordinator.ts';

export interface SeededFleet extends InProcessCoordinator {
  database: BenchDatabase;
  store: Store;
  /** Stops the coordinator's services, closes the store, drops the database unless kept. */
  close(): Promise<void>;
}

export interface SeededFleetOptions extends InProcessOptions {
  /** A database seeded by an earlier run (`keep`): used as it is, never dropped. */
  url?: string | undefined;
  /** Leaves the database for another run; its URL is printed. */
  keep?: boolean;
  /** How the store is opened (a statement log, the credential cache). */
  store?: OpenStoreOptions;
}

export async function seededFleet(
  storeName: StoreName,
  shape: FleetShape,
  options: SeededFleetOptions = {},
): Promise<SeededFleet> {
  const database = options.url
    ? { url: options.url, drop: () => Promise.resolve() }
    : await freshDatabase(storeName);
  const store = await openStore(database.url, options.store);
  const coordinator = await inProcessCoordinator(store, {
    ...(options.clusterCidr === undefined ? {} : { clusterCidr: options.clusterCidr }),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const close = async () => {
    coordinator.services.desired.close();
    await coordinator.services.rechecks.close();
    await store.close();
    if (options.keep) console.error(`kept ${database.url}`);
    else await database.drop();
  };
  try {
    if (!options.url) await seed(coordinator, database.url, shape);
  } catch (error) {
    await close();
    throw error;
  }
  return { ...coordinator, database, store, close };
}

async function seed(coordinator: InProcessCoordinator, url: string, shape: FleetShape) {
  await seedNodes(coordinator.api, shape.nodes);
  await seedTenants(coordinator.api, shape);
  await seedInstances(url, shape);
  console.error(`seeded ${shape.tenants * shape.perTenant} instances in ${url}`);
}
