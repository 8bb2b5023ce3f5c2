// Run by test/openclaw-plugin/sandbox-plugin.test.ts with the pinned node, beside a
// node_modules holding the pinned openclaw and a copy of openclaw-plugin/. Loads the plugin
// through OpenClaw's real plugin SDK, registers it, and drives the registered backend.
// argv: FAKE_WORKER WORKSPACE_ROOT WORKSPACE_DIR
import console from 'node:console';
import process from 'node:process';

const [fake, workspaceRoot, workspaceDir] = process.argv.slice(2);
const plugin = (await import('@mvm/openclaw-sandbox')).default;
const { buildWorkerCommand, workerKeyOf } = await import('@mvm/openclaw-sandbox/command.js');
const sdk = await import('openclaw/plugin-sdk/sandbox');
const out = { before: sdk.getSandboxBackendFactory('mvm') !== null };
let cleanup;
plugin.register({
  pluginConfig: { command: fake },
  registrationMode: 'full',
  lifecycle: { registerRuntimeLifecycle: (hook) => (cleanup = hook) },
});
out.id = plugin.id;
out.registered = {
  factory: typeof sdk.getSandboxBackendFactory('mvm'),
  manager: typeof sdk.getSandboxBackendManager('mvm')?.describeRuntime,
  workdir: typeof sdk.getSandboxBackendWorkdirResolver('mvm'),
};
const cfg = { backend: 'mvm', docker: { binds: [], env: {}, image: 'x' }, ssh: { workspaceRoot } };
const backend = await sdk.getSandboxBackendFactory('mvm')({
  cfg,
  scopeKey: 'agent:main:main',
  workspaceDir,
  agentWorkspaceDir: workspaceDir,
});
out.backend = { id: backend.id, workdir: backend.workdir };
const result = await backend.runShellCommand({ script: 'echo ran-in-worker' });
out.ran = { stdout: result.stdout.toString(), code: result.code };
out.defaultCommand = buildWorkerCommand({ remoteCommand: 'id', workerKey: 'k', env: {} });
out.keys = [
  workerKeyOf('agent:main:main'),
  workerKeyOf(undefined),
  workerKeyOf('a b'),
  workerKeyOf('x'.repeat(300)),
];
cleanup?.cleanup({ reason: 'disable' });
out.afterDisable = sdk.getSandboxBackendFactory('mvm') !== null;
console.log(JSON.stringify(out));
