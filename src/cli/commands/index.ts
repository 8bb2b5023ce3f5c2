import type { CliCommand } from '../command.ts';
import { addHost } from './add/host.ts';
import { agentDesired } from './agent/desired.ts';
import { agentReconcile } from './agent/reconcile.ts';
import { localAgentCommands } from './agent/index.ts';
import { completions } from './completions/completions.ts';
import { coordinatorRotateAdminToken } from './coordinator/rotate-admin-token.ts';
import { coordinatorServe } from './coordinator/serve.ts';
import { events } from './events/events.ts';
import { imageBuild } from './image/build.ts';
import { imageList } from './image/list.ts';
import { instanceCp } from './instance/cp.ts';
import { instanceDestroy } from './instance/destroy.ts';
import { instanceExec } from './instance/exec.ts';
import { instanceInfo } from './instance/info.ts';
import { instanceList } from './instance/list.ts';
import { instanceShell, instanceSsh } from './instance/shell.ts';
import { instanceSleep } from './instance/sleep.ts';
import { instanceStart } from './instance/start.ts';
import { instanceStop } from './instance/stop.ts';
import { instanceWake } from './instance/wake.ts';
import { instanceWarm } from './instance/warm.ts';
import { netVerify } from './net/verify.ts';
import { quickstart } from './quickstart.ts';
import { nodeInfo } from './node/info.ts';
import { nodeJoinToken } from './node/join-token.ts';
import { nodeList } from './node/list.ts';
import { poolCreate } from './pool/create.ts';
import { poolDestroy } from './pool/destroy.ts';
import { poolInfo } from './pool/info.ts';
import { poolList } from './pool/list.ts';
import { poolScale } from './pool/scale.ts';
import { poolUpdate } from './pool/update.ts';
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
  poolUpdate,
  poolDestroy,
  instanceList,
  instanceInfo,
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
  events,
  nodeList,
  nodeInfo,
  nodeJoinToken,
  addHost,
  netVerify,
  quickstart,
  coordinatorServe,
  coordinatorRotateAdminToken,
  agentDesired,
  agentReconcile,
  ...localAgentCommands,
  imageBuild,
  imageList,
  completions,
];
