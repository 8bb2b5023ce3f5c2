/**
 * Which guests on a node get a worker broker (docs/openclaw.md, "Worker exec"): every running
 * instance of a gateway pool, except those whose image answered that it has no broker (127,
 * remembered while that VM runs) and those whose broker is held for a lowering. Pure.
 */
export interface BrokerVm {
  key: string;
  role: string;
  status: string;
}

export function planBrokers(
  vms: readonly BrokerVm[],
  active: ReadonlySet<string>,
  skip: ReadonlySet<string>,
): { start: string[]; stop: string[] } {
  const wanted = new Set(
    vms
      .filter((vm) => vm.role === 'gateway' && vm.status === 'running' && !skip.has(vm.key))
      .map((vm) => vm.key),
  );
  return {
    start: [...wanted].filter((key) => !active.has(key)).sort(),
    stop: [...active].filter((key) => !wanted.has(key)).sort(),
  };
}
