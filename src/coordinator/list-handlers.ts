import type { PageKey } from '../core/page-cursor.ts';
import type { Handlers } from './handlers.ts';
import { listOrPage, numericPart, storePage } from './list-pages.ts';
import type { Services } from './services/index.ts';

type ListRoute =
  | 'listTenants'
  | 'listTokens'
  | 'listAllTokens'
  | 'listPools'
  | 'listInstances'
  | 'listNodes'
  | 'listEvents'
  | 'listSecrets'
  | 'listJobs'
  | 'listRevisions';

const byId = (item: { id: string }): PageKey => [item.id];
const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

/**
 * Every list route: the whole list, or one page of it in the order of a unique key (docs/api.md,
 * "Pages"). Instances page by (tenant, pool, id), events newest first by id, jobs newest first
 * by (created, id); the rest by their id (secrets by pool and name, revisions by creation).
 */
export function createListHandlers(s: Services): Pick<Handlers, ListRoute> {
  return {
    listTenants: ({ tenant, query }) => listOrPage(query, 1, byId, () => s.tenants.list(tenant)),
    listTokens: ({ params, query }) =>
      listOrPage(query, 1, byId, () => s.tokens.list(params.tenant)),
    listAllTokens: ({ query }) =>
      listOrPage(query, 1, byId, () => s.tokens.listAll(defined({ tenant: query.tenant }))),
    listPools: ({ params, query }) => listOrPage(query, 1, byId, () => s.pools.list(params.tenant)),
    listNodes: ({ query }) =>
      listOrPage(query, 1, byId, async () =>
        (await s.nodes.list()).filter(
          (n) => query.status === undefined || n.status === query.status,
        ),
      ),
    listSecrets: ({ params, query }) =>
      listOrPage(
        query,
        2,
        (secret) => [secret.pool ?? '', secret.name],
        () => s.secrets.list(params.tenant, query.pool),
      ),
    listRevisions: ({ params, query }) =>
      listOrPage(
        query,
        2,
        (revision) => [revision.createdAt, revision.id],
        () => s.builds.revisions(params.tenant, params.pool),
      ),
    listInstances: ({ tenant, query }) => {
      const filter = defined({
        tenantId: tenant,
        poolId: query.pool,
        nodeId: query.node,
        status: query.status,
      });
      return storePage(
        query,
        3,
        (i) => [i.tenantId, i.poolId, i.id],
        (after, limit) =>
          s.instances.list({
            ...filter,
            limit,
            ...(after
              ? {
                  after: {
                    tenantId: after[0] ?? '',
                    poolId: after[1] ?? '',
                    instanceId: after[2] ?? '',
                  },
                }
              : {}),
          }),
        () => s.instances.list(filter),
      );
    },
    // A destroyed tenant's history stays readable to the admin.
    listEvents: ({ tenant, query }) => {
      const filter = defined({ tenantId: tenant });
      return storePage(
        query,
        1,
        (event) => [String(event.id)],
        (after, limit) =>
          s.events.list({
            ...filter,
            limit,
            ...(after ? { beforeId: numericPart(after[0]) } : {}),
          }),
        () => s.events.list({ ...filter, limit: query.last }),
      );
    },
    listJobs: ({ params, query }) => {
      const filter = defined({ pool: query.pool, state: query.state });
      return storePage(
        query,
        2,
        (job) => [job.createdAt, job.id],
        (after, limit) =>
          s.jobs.list(params.tenant, {
            ...filter,
            limit,
            ...(after ? { before: { createdAt: after[0] ?? '', id: after[1] ?? '' } } : {}),
          }),
        () => s.jobs.list(params.tenant, filter),
      );
    },
  };
}
