import { errorMessage } from '../../core/errors.ts';
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

/**
 * Asks the coordinator whether a connection may wake the instance on this node: the wake
 * report, sent before the wake (the coordinator raises it to running only with room on its
 * node, services/wake-report.ts). Admitted only when the answer says running; a coordinator
 * that does not answer admits nothing (core/wake-admission.ts).
 */
export async function askToWake(
  coordinator: { api: ApiClient; nodeId: string },
  ref: { tenantId: string; poolId: string; instanceId: string },
  ask: WakeAsk,
  timeoutMs = ADMIT_TIMEOUT_MS,
): Promise<WakeAdmission> {
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
        body: { trigger: 'connect', port: ask.port, from: ask.from, source: ask.source },
      },
      { timeoutMs },
    );
    return admissionOf(answer);
  } catch (error) {
    return unansweredAdmission(errorMessage(error));
  }
}
