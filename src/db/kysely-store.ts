import type { Kysely } from 'kysely';
import type {
  LockRepo,
  AuditRepo,
  GenerationRepo,
  InstanceRepo,
  JoinTokenRepo,
  NodeCertificateRecord,
  NodeCertificateRepo,
  NodeReportRepo,
  HeartbeatRepo,
  NodeRepo,
  BuildRepo,
  PoolConfigRepo,
  PoolRepo,
  Repos,
  RevisionRepo,
  RolloutRepo,
  InstanceMoveRepo,
  SecretRepo,
  SessionTicketRepo,
  Store,
  TenantRepo,
  TokenRecord,
  TokenRepo,
} from '../ports/store.ts';
import type { JobJournal, JobModuleRepo, JobQueue, JobRepo } from '../ports/job-store.ts';
import { KyselyJobJournal } from './repos/job-journal-repo.ts';
import { KyselyJobQueue } from './repos/job-queue-repo.ts';
import { KyselyJobModuleRepo } from './repos/job-module-repo.ts';
import { KyselyJobRepo } from './repos/job-repo.ts';
import { KyselyAuditRepo } from './repos/audit-repo.ts';
import { KyselyBuildRepo } from './repos/build-repo.ts';
import { KyselyGenerationRepo } from './repos/generation-repo.ts';
import { KyselyInstanceRepo } from './repos/instance-repo.ts';
import { KyselyLockRepo } from './repos/lock-repo.ts';
import { KyselyJoinTokenRepo } from './repos/join-token-repo.ts';
import { KyselyNodeCertificateRepo } from './repos/node-certificate-repo.ts';
import { KyselyNodeReportRepo } from './repos/node-report-repo.ts';
import { KyselyHeartbeatRepo } from './repos/heartbeat-repo.ts';
import { KyselyNodeRepo } from './repos/node-repo.ts';
import { KyselyPoolConfigRepo } from './repos/pool-config-repo.ts';
import { KyselyPoolRepo } from './repos/pool-repo.ts';
import { KyselyRevisionRepo } from './repos/revision-repo.ts';
import { KyselyRolloutRepo } from './repos/rollout-repo.ts';
import { KyselyInstanceMoveRepo } from './repos/instance-move-repo.ts';
import { KyselySecretRepo } from './repos/secret-repo.ts';
import { KyselySessionTicketRepo } from './repos/session-ticket-repo.ts';
import { KyselyTenantRepo } from './repos/tenant-repo.ts';
import { KyselyTokenRepo } from './repos/token-repo.ts';
import type { Database } from './schema.ts';
import type { SqlDialect } from './sql-dialect.ts';
import { CompiledStatements } from './compiled-statement.ts';
import type { PreparedStatements } from './postgres-pool.ts';
import { CredentialCache } from './credential-cache.ts';
import { onOneConnection } from './one-connection.ts';
import { retryingTransientAborts } from './transaction-retry.ts';

/** What a store's repos tell it of their writes. */
export interface RepoHooks {
  /** A token is being revoked (db/credential-cache.ts). */
  tokenRevoked?: () => void;
  /** A node's certificates are being revoked (db/credential-cache.ts). */
  certificatesRevoked?: () => void;
}

/**
 * Every repository bound to one connection or transaction, sharing the store's compiled
 * statements.
 */
export function reposFor(
  db: Kysely<Database>,
  statements: CompiledStatements,
  hooks: RepoHooks = {},
): Repos {
  return {
    locks: new KyselyLockRepo(db),
    tenants: new KyselyTenantRepo(db, statements),
    pools: new KyselyPoolRepo(db, statements),
    instances: new KyselyInstanceRepo(db, statements),
    nodes: new KyselyNodeRepo(db, statements),
    audit: new KyselyAuditRepo(db),
    tokens: new KyselyTokenRepo(db, hooks.tokenRevoked),
    generations: new KyselyGenerationRepo(db, statements),
    joinTokens: new KyselyJoinTokenRepo(db),
    nodeCertificates: new KyselyNodeCertificateRepo(db, hooks.certificatesRevoked),
    nodeReports: new KyselyNodeReportRepo(db, statements),
    heartbeats: new KyselyHeartbeatRepo(db, statements),
    secrets: new KyselySecretRepo(db, statements),
    poolConfigs: new KyselyPoolConfigRepo(db, statements),
    jobs: new KyselyJobRepo(db),
    jobModules: new KyselyJobModuleRepo(db),
    jobQueue: new KyselyJobQueue(db),
    jobJournal: new KyselyJobJournal(db),
    revisions: new KyselyRevisionRepo(db),
    builds: new KyselyBuildRepo(db),
    rollouts: new KyselyRolloutRepo(db),
    instanceMoves: new KyselyInstanceMoveRepo(db, statements),
    sessionTickets: new KyselySessionTicketRepo(db),
  };
}

/** The Store port on an open, migrated Kysely instance. Use openStore() to make one. */
export class KyselyStore implements Store {
  readonly locks: LockRepo;
  readonly tenants: TenantRepo;
  readonly pools: PoolRepo;
  readonly instances: InstanceRepo;
  readonly nodes: NodeRepo;
  readonly audit: AuditRepo;
  readonly tokens: TokenRepo;
  readonly generations: GenerationRepo;
  readonly joinTokens: JoinTokenRepo;
  readonly nodeCertificates: NodeCertificateRepo;
  readonly nodeReports: NodeReportRepo;
  readonly heartbeats: HeartbeatRepo;
  readonly secrets: SecretRepo;
  readonly poolConfigs: PoolConfigRepo;
  readonly jobs: JobRepo;
  readonly jobModules: JobModuleRepo;
  readonly jobQueue: JobQueue;
  readonly jobJournal: JobJournal;
  readonly revisions: RevisionRepo;
  readonly builds: BuildRepo;
  readonly rollouts: RolloutRepo;
  readonly instanceMoves: InstanceMoveRepo;
  readonly sessionTickets: SessionTicketRepo;
  private closed = false;
  private readonly tokenCache: CredentialCache<TokenRecord>;
  private readonly certificateCache: CredentialCache<NodeCertificateRecord>;
  /** Compiled once per shape for this store, its transactions included (compiled-statement.ts). */
  private readonly statements: CompiledStatements;

  /**
   * `prepared`: the Postgres pool's named statements (postgres-pool.ts), to which the store's
   * compiled statements are added.
   */
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
    options: { tokenCacheMs?: number; prepared?: PreparedStatements } = {},
  ) {
    this.statements = new CompiledStatements(options.prepared);
    this.tokenCache = new CredentialCache(options.tokenCacheMs);
    this.certificateCache = new CredentialCache(options.tokenCacheMs);
    const repos = reposFor(db, this.statements, {
      tokenRevoked: () => this.tokenCache.revoked(),
      certificatesRevoked: () => this.certificateCache.revoked(),
    });
    this.locks = repos.locks;
    this.tenants = repos.tenants;
    this.pools = repos.pools;
    this.instances = repos.instances;
    this.nodes = repos.nodes;
    this.audit = repos.audit;
    this.tokens = repos.tokens;
    this.generations = repos.generations;
    this.joinTokens = repos.joinTokens;
    this.nodeCertificates = repos.nodeCertificates;
    this.nodeReports = repos.nodeReports;
    this.heartbeats = repos.heartbeats;
    this.secrets = repos.secrets;
    this.poolConfigs = repos.poolConfigs;
    this.jobs = repos.jobs;
    this.jobModules = repos.jobModules;
    this.jobQueue = repos.jobQueue;
    this.jobJournal = repos.jobJournal;
    this.revisions = repos.revisions;
    this.builds = repos.builds;
    this.rollouts = repos.rollouts;
    this.instanceMoves = repos.instanceMoves;
    this.sessionTickets = repos.sessionTickets;
  }

  /**
   * Commits when `fn` resolves, rolls back when it throws, and runs it again when the database
   * aborted it for a deadlock (transaction-retry.ts). Inside `fn` use only the repos it is
   * given: on SQLite the store has one connection, so touching the store itself would wait for
   * the transaction that is waiting for it.
   */
  transaction<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    return this.inTransaction(fn);
  }

  batch<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    return this.dialect === 'sqlite' ? this.inTransaction(fn) : fn(this);
  }

  reads<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    if (this.dialect === 'sqlite') return fn(this);
    return onOneConnection(this.db, (db) => fn(reposFor(db, this.statements)));
  }

  private inTransaction<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    return retryingTransientAborts(async () => {
      let tokens = false;
      let certificates = false;
      const hooks: RepoHooks = {
        tokenRevoked: () => {
          tokens = true;
          this.tokenCache.revoked();
        },
        certificatesRevoked: () => {
          certificates = true;
          this.certificateCache.revoked();
        },
      };
      try {
        return await this.db
          .transaction()
          .execute((trx) => fn(reposFor(trx, this.statements, hooks)));
      } finally {
        // Again once committed (or rolled back): a lookup that read the row before the commit
        // is not kept.
        if (tokens) this.tokenCache.revoked();
        if (certificates) this.certificateCache.revoked();
      }
    });
  }

  /** The token of a hash, for authentication: cached briefly (db/credential-cache.ts). */
  authToken(hash: string): Promise<TokenRecord | undefined> {
    return this.tokenCache.find(hash, (h) => this.tokens.findByHash(h));
  }

  /** A node certificate by serial, for authentication: cached briefly, as authToken. */
  authCertificate(serial: string): Promise<NodeCertificateRecord | undefined> {
    return this.certificateCache.find(serial, (s) => this.nodeCertificates.get(s));
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }
}
