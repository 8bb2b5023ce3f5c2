/**
 * Whether `mvm new openclaw` turns on the worker sandbox by itself (docs/openclaw.md): tool
 * calls go to the tenant's worker microVMs only through worker exec, which each node runs
 * when its agent has `MVM_WORKER_EXEC=on` (its heartbeats say `workerExec`). A gateway may
 * land on any ready node, so the sandbox is chosen only when every ready node has it; with
 * some but not all, a gateway placed elsewhere would run no tool at all.
 */
export interface SandboxNode {
  id: string;
  status: string;
  usage: { workerExec?: boolean | undefined } | null;
}

export interface SandboxChoice {
  on: boolean;
  /** Why, in words for the deployment's progress lines. */
  why: string;
}

export function workerSandboxDefault(nodes: readonly SandboxNode[]): SandboxChoice {
  const ready = nodes.filter((n) => n.status === 'ready');
  if (ready.length === 0) return { on: false, why: 'no ready node reports worker exec' };
  const without = ready.filter((n) => n.usage?.workerExec !== true).map((n) => n.id);
  if (without.length === 0) {
    return { on: true, why: `worker exec is on on every ready node (${ready.length})` };
  }
  const named = without.slice(0, 3).join(', ') + (without.length > 3 ? ', …' : '');
  return { on: false, why: `worker exec is off on ${without.length} ready node(s): ${named}` };
}
