import type { CliCommand } from '../command.ts';
import { addHost } from './add/host.ts';
import { agentDesired } from './agent/desired.ts';
import { agentReconcile } from './agent/reconcile.ts';
import { localAgentCommands } from './agent/index.ts';
import { completions } from './completions/completions.ts';
import { coordinatorRotateAdminToken } from './coordinator/rotate-admin-token.ts';
import { coordinatorRotateSecretsKey } from './coordinator/rotate-secrets-key.ts';
import { coordinatorServe } from './coordinator/serve.ts';
import { events } from './events/events.ts';
import { imageBuild } from './image/build.ts';
import { imageList } from './image/list.ts';
import { instanceCp } from './instance/cp.ts';
import { jobSubmit } from './job/submit.ts';
import { jobCancel, jobInfo, jobList, jobLogs, jobRetry } from './job/manage.ts';
import { instanceDestroy } from './instance/destroy.ts';
import { instanceExec } from './instance/exec.ts';
import { instanceInfo } from './instance/info.ts';
import { instanceMove, instanceMoveStatus } from './instance/move.ts';
import { instanceList } from './instance/list.ts';
import { instanceLogs } from './instance/logs.ts';
import { instanceShell, instanceSsh } from './instance/shell.ts';
import { instanceSleep } from './instance/sleep.ts';
import { instanceStats } from './instance/stats.ts';
import { instanceStart } from './instance/start.ts';
import { instanceStop } from './instance/stop.ts';
import { instanceTicket } from './instance/ticket.ts';
import { instanceWake } from './instance/wake.ts';
import { instanceWarm } from './instance/warm.ts';
import { netVerify } from './net/verify.ts';
import { newOpenclaw } from './new/openclaw.ts';
import { connect } from './connect.ts';
import { quickstart } from './quickstart.ts';
import { status } from './status/status.ts';
import { nodeCordon, nodeUncordon } from './node/cordon.ts';
import { nodeDisk } from './node/disk.ts';
import { nodeDrain } from './node/drain.ts';
import { nodeDrainPlan } from './node/drain-plan.ts';
import { nodeGc } from './node/gc.ts';
import { nodeInfo } from './node/info.ts';
import { nodeJoinToken } from './node/join-token.ts';
import { nodeList } from './node/list.ts';
import { nodeStats } from './node/stats.ts';
import { poolConfigGet, poolConfigList, poolConfigSet, poolConfigUnset } from './pool/config.ts';
import { poolAutoscale } from './pool/autoscale.ts';
import { poolBuild } from './pool/build.ts';
import { poolCreate } from './pool/create.ts';
import { poolDestroy } from './pool/destroy.ts';
import { poolGc } from './pool/gc.ts';
import { poolInfo } from './pool/info.ts';
import { poolList } from './pool/list.ts';
import { poolRevisions } from './pool/revisions.ts';
import { poolRollback, poolRollout } from './pool/rollout.ts';
import { poolScale } from './pool/scale.ts';
import { poolUpdate } from './pool/update.ts';
import { secretsList } from './secrets/list.ts';
import { secretsRotate, secretsSet } from './secrets/set.ts';
import { secretsUnset } from './secrets/unset.ts';
import { tenantCreate } from './tenant/create.ts';
import { tenantDestroy } from './tenant/destroy.ts';
import { tenantInfo } from './tenant/info.ts';
import { tenantList } from './tenant/list.ts';
import { tenantTokenCreate } from './tenant/token-create.ts';
import { tenantTokenList } from './tenant/token-list.ts';
import { tenantTokenRevoke } from './tenant/token-revoke.ts';
import { tenantUpdate } from './tenant/update.ts';
import { tokenList } from './token/list.ts';
import { tokenRevoke } from './token/revoke.ts';
import { tokenRotateAdmin } from './token/rotate-admin.ts';

/** Every command, in the order help lists them. */
export const allCommands: readonly CliCommand[] = [
  tenantCreate,
  tenantList,
  tenantInfo,
  tenantUpdate,
  tenantDestroy,
  tenantTokenCreate,
  tenantTokenList,
  tenantTokenRevoke,
  tokenList,
  tokenRevoke,
  tokenRotateAdmin,
  poolCreate,
  poolList,
  poolInfo,
  poolScale,
  poolAutoscale,
  poolUpdate,
  poolBuild,
  poolRevisions,
  poolRollout,
  poolRollback,
  poolDestroy,
  poolGc,
  poolConfigSet,
  poolConfigGet,
  poolConfigList,
  poolConfigUnset,
  secretsSet,
  secretsList,
  secretsRotate,
  secretsUnset,
  jobSubmit,
  jobList,
  jobInfo,
  jobLogs,
  jobCancel,
  jobRetry,
  instanceList,
  instanceInfo,
  instanceMove,
  instanceMoveStatus,
  instanceStats,
  instanceStart,
  instanceStop,
  instanceWarm,
  instanceSleep,
  instanceWake,
  instanceDestroy,
  instanceExec,
  instanceShell,
  instanceSsh,
  instanceCp,
  instanceLogs,
  instanceTicket,
  events,
  nodeList,
  nodeInfo,
  nodeStats,
  nodeDisk,
  nodeGc,
  nodeCordon,
  nodeUncordon,
  nodeDrain,
  nodeDrainPlan,
  nodeJoinToken,
  addHost,
  newOpenclaw,
  connect,
  netVerify,
  status,
  quickstart,
  coordinatorServe,
  coordinatorRotateAdminToken,
  coordinatorRotateSecretsKey,
  agentDesired,
  agentReconcile,
  ...localAgentCommands,
  imageBuild,
  imageList,
  completions,
];
