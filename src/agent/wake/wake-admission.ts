import { errorMessage, MvmError } from '../../core/errors.ts';
import { httpStatusOf } from '../../contract/http-status.ts';
import { admissionOf, unansweredAdmission, type WakeAdmission } from '../../core/wake-admission.ts';
import type { WakeSource } from '../../core/wake-arming.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';

/** How long a wake waits for the coordinator's answer (well inside a held connection's bound). */
export const ADMIT_TIMEOUT_MS = 5_000;

export interface WakeAsk {
  port: number;
  /** The client's address. */
  from: string;
  source: WakeSource;
}

export interface WakeRef {
  tenantId: string;
  poolId: string;
  instanceId: string;
}

/** The coordinator's answer, or why there is none (unreachable, 5xx, no answer in time). */
export type CoordinatorAnswer =
  { answered: true; admission: WakeAdmission } | { answered: false; message: string };

/**
 * Sends the wake report: before a wake, it asks (the coordinator raises the instance to
 * running only with room on its node, services/wake-report.ts); `admittedBy: 'node'` reports
 * a wake the node admitted itself while the coordinator did not answer. A 4xx is an answer
 * (the request was judged); anything else is no answer.
 */
export async function reportWake(
  coordinator: { api: ApiClient; nodeId: string },
  ref: WakeRef,
  ask: WakeAsk & { admittedBy?: 'node'; admittedMsAgo?: number },
  timeoutMs = ADMIT_TIMEOUT_MS,
): Promise<CoordinatorAnswer> {
  try {
    const answer = await coordinator.api.call(
      'reportInstanceWake',
      {
        params: {
          node: coordinator.nodeId,
          tenant: ref.tenantId,
          pool: ref.poolId,
          instance: ref.instanceId,
        },
        body: {
          trigger: 'connect',
          port: ask.port,
          from: ask.from,
          source: ask.source,
          ...(ask.admittedBy ? { admittedBy: ask.admittedBy } : {}),
          ...(ask.admittedMsAgo !== undefined ? { admittedMsAgo: ask.admittedMsAgo } : {}),
        },
      },
      { timeoutMs },
    );
    return { answered: true, admission: admissionOf(answer) };
  } catch (error) {
    if (error instanceof MvmError && httpStatusOf[error.code] < 500) {
      return { answered: true, admission: { admitted: false, reason: errorMessage(error) } };
    }
    return { answered: false, message: errorMessage(error) };
  }
}

/**
 * Asks the coordinator whether a connection may wake the instance on this node: the wake
 * report, sent before the wake. Admitted only when the answer says running; a coordinator
 * that does not answer admits nothing here (core/wake-admission.ts); the node-local fallback
 * is wake-admitter.ts.
 */
export async function askToWake(
  coordinator: { api: ApiClient; nodeId: string },
  ref: WakeRef,
  ask: WakeAsk,
  timeoutMs = ADMIT_TIMEOUT_MS,
): Promise<WakeAdmission> {
  const answer = await reportWake(coordinator, ref, ask, timeoutMs);
  return answer.answered ? answer.admission : unansweredAdmission(answer.message);
}
