// OpenClaw plugin `mvm`: registers the sandbox backend `mvm` (docs/openclaw.md, "The sandbox
// plugin"). Installed into the openclaw-gateway image by mvm; set
// `agents.defaults.sandbox.backend: "mvm"` (mode `all` or `non-main`, scope `session`) and every
// tool command of a session runs in that session's worker microVM of the tenant, through
// `mvm-worker exec`. Workspaces follow OpenClaw's remote-shell layout (the ssh backend's).
import { definePluginEntry } from 'openclaw/plugin-sdk/plugin-entry';
import {
  createRemoteShellSandboxBackend,
  createRemoteShellSandboxSession,
  getSandboxBackendWorkdirResolver,
  registerSandboxBackend,
} from 'openclaw/plugin-sdk/sandbox';
import { buildWorkerCommand, MVM_WORKER_COMMAND, workerKeyOf } from './command.js';

export const MVM_SANDBOX_BACKEND_ID = 'mvm';

export function createMvmSandboxFactory(pluginConfig = {}) {
  const command = pluginConfig.command ?? MVM_WORKER_COMMAND;
  return async (params) => {
    const workerKey = workerKeyOf(params.scopeKey);
    const assertCurrent = params.assertRuntimeCurrent ?? (() => undefined);
    return createRemoteShellSandboxBackend(params, {
      backendId: MVM_SANDBOX_BACKEND_ID,
      configLabel: `mvm worker ${workerKey}`,
      configLabelKind: 'Worker',
      createSession: async () =>
        createRemoteShellSandboxSession({
          assertCurrent,
          buildCommand: ({ remoteCommand }) =>
            buildWorkerCommand({ remoteCommand, workerKey, command }),
        }),
    });
  };
}

/** Workers belong to mvm's pool: OpenClaw neither starts nor removes them. */
export const mvmSandboxManager = {
  async describeRuntime({ entry }) {
    return { running: true, actualConfigLabel: entry.image, configLabelMatch: true };
  },
  async removeRuntime() {},
};

/** The ssh backend's remote workspace layout (workspaceRoot + scope), as Crabbox does. */
export function resolveMvmWorkdir(params) {
  const resolver = getSandboxBackendWorkdirResolver('ssh');
  if (!resolver)
    throw new Error('the mvm sandbox backend needs the shared remote workspace layout');
  return resolver({ ...params, cfg: { ...params.cfg, backend: 'ssh' } });
}

export default definePluginEntry({
  id: 'mvm',
  name: 'mvm worker microVMs',
  description: "Sandbox backend running tool commands in the tenant's mvm worker microVMs",
  register(api) {
    const unregister = registerSandboxBackend(MVM_SANDBOX_BACKEND_ID, {
      factory: createMvmSandboxFactory(api.pluginConfig ?? {}),
      manager: mvmSandboxManager,
      resolveWorkdir: resolveMvmWorkdir,
    });
    api.lifecycle?.registerRuntimeLifecycle?.({
      id: 'mvm-sandbox-cleanup',
      cleanup: ({ reason, sessionKey, runId }) => {
        if (sessionKey !== undefined || runId !== undefined) return;
        if (reason === 'disable' || reason === 'restart') unregister();
      },
    });
  },
});
