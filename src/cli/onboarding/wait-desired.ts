import { HostError, UnavailableError } from '../../core/errors.ts';
import type { InstanceView } from '../../contract/resources.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../drivers/clock/system-clock.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';

export interface WaitOutcome {
  /** Every instance of the tenant is at its desired status. */
  settled: true;
  ms: number;
  instances: number;
}

const POLL_MS = 500;

const settledCount = (list: readonly InstanceView[]) =>
  list.filter((i) => i.status === i.desiredStatus).length;

/**
 * Polls the tenant's instances until each is at its desired status (the agents converge on
 * their own; this only watches). A failed instance ends the wait at once with its reason; so
 * does the deadline, with the instances still on their way.
 */
export async function waitForDesired(
  api: ApiClient,
  tenant: string,
  timeoutMs: number,
  print: (line: string) => void,
): Promise<WaitOutcome> {
  const started = systemClock.now().getTime();
  let shown = -1;
  for (;;) {
    const list = await api.call('listInstances', { query: { tenant } });
    const failed = list.find((i) => i.status === 'failed');
    if (failed) {
      throw new HostError(
        `instance ${tenant}/${failed.poolId}/${failed.id} failed: ${failed.failureReason ?? 'no reason given'}`,
      );
    }
    const done = settledCount(list);
    if (done !== shown) print(`${done}/${list.length} instance(s) at their desired status`);
    shown = done;
    const ms = systemClock.now().getTime() - started;
    if (done === list.length) return { settled: true, ms, instances: list.length };
    if (ms >= timeoutMs) {
      const pending = list
        .filter((i) => i.status !== i.desiredStatus)
        .map((i) => `${i.poolId}/${i.id} ${i.status}→${i.desiredStatus}`);
      throw new UnavailableError(
        `after ${Math.round(ms / 1000)} s ${pending.length} instance(s) are still on their way (${pending.join(', ')}); is an agent serving this coordinator? ('mvm agent serve --node <id>')`,
      );
    }
    await abortableSleep(systemClock, Math.min(POLL_MS, timeoutMs - ms));
  }
}
