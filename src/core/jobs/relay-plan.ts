/**
 * Which worker guests on a node get a job executor (docs/jobs.md, "Executors in worker
 * microVMs"). A pool takes jobs when its role is `worker` and its image carries the executor
 * (a worker image). The host agent runs one relayed executor per running instance of such a
 * pool; an image without the executor answers 127 once and is not asked again while that VM
 * runs. A relay stops when its instance leaves `running` (paused, slept, stopped, destroyed):
 * its job's lease then runs out and the job is claimed again, or resumed here after a wake.
 */
export interface RelayVm {
  key: string;
  role: string;
  status: string;
}

export interface RelayPlan {
  start: string[];
  stop: string[];
}

/**
 * The same rule serves every session the agent keeps in a role's guests: the executor in
 * workers, the worker broker in gateways (docs/openclaw.md, "Worker exec"); `withoutExecutor`
 * is then every guest to skip (no such command in its image, or held for a lowering).
 */
export function planRelays(
  vms: readonly RelayVm[],
  active: ReadonlySet<string>,
  withoutExecutor: ReadonlySet<string>,
  role = 'worker',
): RelayPlan {
  const wanted = new Set(
    vms
      .filter((vm) => vm.role === role && vm.status === 'running')
      .map((vm) => vm.key)
      .filter((key) => !withoutExecutor.has(key)),
  );
  return {
    start: [...wanted].filter((key) => !active.has(key)).sort(),
    stop: [...active].filter((key) => !wanted.has(key)).sort(),
  };
}

/** Keys remembered as lacking an executor, minus VMs no longer running (a restart asks again). */
export function stillWithoutExecutor(
  vms: readonly RelayVm[],
  withoutExecutor: ReadonlySet<string>,
): Set<string> {
  const running = new Set(vms.filter((vm) => vm.status === 'running').map((vm) => vm.key));
  return new Set([...withoutExecutor].filter((key) => running.has(key)));
}
