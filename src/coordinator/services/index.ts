import type { AuditEvent } from '../../core/model.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import { AdminTokenService, type AdminTokenDeps } from './admin-token-service.ts';
import { AfterWrite } from './after-write.ts';
import { BuildRunner } from '../builds/build-runner.ts';
import type { ImageDeps } from '../builds/image-deps.ts';
import { BuildService } from './build-service.ts';
import { NodeArtifactService } from './node-artifact-service.ts';
import type { SigningKey } from '../desired/signing-key.ts';
import type { ServiceDeps } from './context.ts';
import { MoveRelay } from './move-relay.ts';
import { MoveReportService } from './move-report-service.ts';
import { MoveService } from './move-service.ts';
import { DesiredService } from './desired-service.ts';
import { ExecService, type ExecTimeouts } from './exec-service.ts';
import { IdleService } from './idle-service.ts';
import { QueueWakeService } from './queue-wake-service.ts';
import { InstanceService } from './instance-service.ts';
import { defaultJobSettings, JobService, type JobSettings } from './job-service.ts';
import { JournalService } from './journal-service.ts';
import { JoinService, type JoinDeps } from './join-service.ts';
import { MetricsService } from './metrics-service.ts';
import { EventStreamService } from './event-stream.ts';
import { InstanceWatchService } from './instance-watch.ts';
import { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts';
import { NodeHealthService, type NodeHealthDeps } from './node-health-service.ts';
import { NodeService } from './node-service.ts';
import { PoolConfigService } from './pool-config-service.ts';
import { PoolService } from './pool-service.ts';
import { RecheckTimer } from './recheck-timer.ts';
import { ReportService } from './report-service.ts';
import { RolloutService } from './rollout-service.ts';
import { SchedulerService, type ScheduleOutcome } from './scheduler-service.ts';
import { SecretService, type SecretDeps } from './secret-service.ts';
import { SessionTicketService } from './session-ticket-service.ts';
import { SleepRecheckService } from './sleep-rechecks.ts';
import { TenantService } from './tenant-service.ts';
import { TokenService } from './token-service.ts';
import type { Logger } from '../../ports/logger.ts';

export interface Services {
  tenants: TenantService;
  pools: PoolService;
  instances: InstanceService;
  nodes: NodeService;
  /** Moves asked for: one instance, or a node's drain. */
  moves: MoveService;
  /** What the nodes of a move report as they carry it out. */
  moveReports: MoveReportService;
  /** Moves' bundles on their way from source to target. */
  moveRelay: MoveRelay;
  tokens: TokenService;
  adminToken: AdminTokenService;
  /** A scheduling pass, and the wake-up of the watchers of what it moved. */
  scheduler: { schedule(): Promise<ScheduleOutcome> };
  desired: DesiredService;
  health: NodeHealthService;
  /** Re-checks pools when demotions put off by minimum times fall due; close() stops it. */
  rechecks: RecheckTimer;
  /** The pools' idle policies, applied by a periodic pass (idle-loop.ts). */
  idle: IdleService;
  /** Queue-driven pools: queued jobs raise idle-lowered workers and grow the pool (idle pass, submits). */
  queueWake: QueueWakeService;
  join: JoinService;
  events: {
    list(filter: { tenantId?: string; limit: number; beforeId?: number }): Promise<AuditEvent[]>;
  };
  /** Agents' reports of their disks and VMs (read side). */
  reports: ReportService;
  secrets: SecretService;
  poolConfigs: PoolConfigService;
  /** Node tunnels and the exec, pty and copy sessions relayed over them. */
  exec: ExecService;
  /** Single-use tickets that open exec and logs sockets without a header (browsers). */
  sessionTickets: SessionTicketService;
  jobs: JobService;
  journal: JournalService;
  builds: BuildService;
  nodeArtifacts: NodeArtifactService;
  /** `mvm events --follow`: audit events as server-sent events. */
  eventStream: EventStreamService;
  /** `mvm instance list --watch`: instance changes as server-sent events. */
  instanceWatch: InstanceWatchService;
  /** What /v1/metrics answers, and the process's own histograms (API, scheduler). */
  metrics: MetricsService;
  /** Runs builds in the background; close() stops it (serve.ts). Absent without images. */
  buildRunner: BuildRunner | undefined;
  rollouts: RolloutService;
}

/** What the desired-state service adds: its signing key and the process's change notifier. */
export interface DesiredDeps {
  signingKey: SigningKey;
  notifier: ChangeNotifier;
  desiredPollMs?: number;
  desiredRefreshMs?: number;
  /** Job settings; defaults when absent. */
  jobs?: JobSettings;
}

export function createServices(
  deps: ServiceDeps &
    DesiredDeps &
    JoinDeps &
    NodeHealthDeps &
    AdminTokenDeps &
    SecretDeps & {
      logger?: Logger;
      execTimeouts?: Partial<ExecTimeouts>;
      images?: ImageDeps;
      /** Where the coordinator relays moves' bundles; without it moves cannot transfer. */
      moveRelayDir?: string;
      /** Bytes of one move the relay holds at once (move-relay.ts); default 1 GiB. */
      moveRelayMaxBytes?: number;
    },
): Services {
  const buildRunner = deps.images && new BuildRunner({ ...deps, images: deps.images });
  const metrics = new MetricsService(deps, new CoordinatorMetrics());
  const scheduler = new SchedulerService(deps);
  const after = new AfterWrite({
    scheduler: {
      schedule: (options) => metrics.process.schedule(() => scheduler.schedule(options)),
    },
    notifier: deps.notifier,
  });
  const desired = new DesiredService({
    store: deps.store,
    clock: deps.clock,
    signingKey: deps.signingKey,
    notifier: deps.notifier,
    onPropagated: (seconds) => metrics.process.propagated(seconds),
    ...(deps.desiredPollMs !== undefined ? { pollMs: deps.desiredPollMs } : {}),
    ...(deps.desiredRefreshMs !== undefined ? { refreshMs: deps.desiredRefreshMs } : {}),
  });
  const rechecks = recheckTimer(deps, after);
  const instances = new InstanceService(deps, after);
  const nodes = new NodeService(deps, after);
  const relayDir = deps.moveRelayDir;
  const moveReports: MoveReportService = new MoveReportService(deps, after, (move) =>
    moveRelay.drop(move),
  );
  const moveRelay: MoveRelay = new MoveRelay(moveReports, relayDir, deps.moveRelayMaxBytes);
  return {
    tenants: new TenantService(deps, after),
    pools: new PoolService(deps, after, rechecks),
    instances,
    nodes,
    moves: new MoveService(deps, after, nodes),
    moveReports,
    moveRelay,
    tokens: new TokenService(deps),
    sessionTickets: new SessionTicketService(deps),
    adminToken: new AdminTokenService(deps),
    scheduler: { schedule: () => after.schedule() },
    desired,
    health: new NodeHealthService(deps, after, (node) => desired.issue(node), desired),
    rechecks,
    idle: new IdleService(deps, after),
    queueWake: new QueueWakeService(deps, after),
    join: new JoinService(deps, after),
    events: { list: (filter) => deps.store.audit.list(filter) },
    reports: new ReportService(deps),
    secrets: new SecretService(deps, after),
    poolConfigs: new PoolConfigService(deps, after),
    exec: new ExecService(deps, instances),
    jobs: new JobService({ ...deps, jobs: deps.jobs ?? defaultJobSettings }),
    journal: new JournalService(deps),
    builds: new BuildService(deps, deps.images, buildRunner),
    nodeArtifacts: new NodeArtifactService(deps, deps.images),
    metrics,
    eventStream: new EventStreamService(deps),
    instanceWatch: new InstanceWatchService(deps),
    buildRunner,
    rollouts: new RolloutService(deps, after),
  };
}

function recheckTimer(deps: ServiceDeps & { logger?: Logger }, after: AfterWrite): RecheckTimer {
  return new RecheckTimer({
    clock: deps.clock,
    rechecks: new SleepRecheckService(deps),
    // Demotions free capacity: placement runs again, and the pools' nodes see the demotions.
    onChange: (changed) => after.place({ tenants: changed.map((ref) => ref.tenantId) }),
    onError: (err, ref) => deps.logger?.error({ err, ...ref }, 'sleep-policy re-check failed'),
  });
}

export type { ServiceDeps } from './context.ts';
