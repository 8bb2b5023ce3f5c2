/**
 * Where a step's time goes, for the benches: times every Vmm call and every guest-agent call
 * the instance runtime makes, under the name of the step running now. Wraps the agent's own
 * port objects (deps.vmm, deps.guests), so what is timed is exactly the path the step takes.
 */
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import type { Vmm } from '../../src/ports/vmm.ts';
import type { Samples } from './stats.ts';

type Method = (...args: unknown[]) => unknown;

export interface PhaseTimer {
  /** The step now running (its calls are filed under it); undefined: calls are not timed. */
  step: string | undefined;
  /** `<step>: vmm.<call>` and `<step>: guest.<call>` -> durations in ms. */
  readonly samples: Samples;
}

/**
 * Every method of `target` that returns a promise is timed into `timer` under `prefix` while
 * a step runs; the rest (synchronous calls, properties) pass through unchanged.
 */
function timedObject<T extends object>(target: T, prefix: string, timer: PhaseTimer): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const method = value as Method;
      return (...args: unknown[]) => {
        const step = timer.step;
        const started = performance.now();
        const result = method.apply(object, args);
        if (step === undefined || !(result instanceof Promise)) return result;
        const name = `${step}: ${prefix}.${property}`;
        return result.finally(() => {
          timer.samples.set(name, [
            ...(timer.samples.get(name) ?? []),
            performance.now() - started,
          ]);
        });
      };
    },
  });
}

/** Times the agent's VMM and guest-agent calls from now on. */
export function timePhases(agent: AgentHandle): PhaseTimer {
  const timer: PhaseTimer = { step: undefined, samples: new Map() };
  const deps = agent.deps;
  deps.vmm = timedObject<Vmm>(deps.vmm, 'vmm', timer);
  const clientFor = deps.guests.for.bind(deps.guests);
  deps.guests.for = (vm) => timedObject(clientFor(vm), 'guest', timer);
  return timer;
}
