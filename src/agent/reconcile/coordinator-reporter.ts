import { MAX_FAILURE_REASON, toMultilineText } from '../../contract/common.ts';
import { isMvmError } from '../../core/errors.ts';
import type { InstanceStatus } from '../../core/model.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { randomBytes } from 'node:crypto';
import { requestIdFrom } from '../../core/request-id.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceRef } from '../runtime/instance-runtime.ts';
import type { StatusReporter } from './reconcile-document.ts';

/** A reporter that can be told the coordinator's view may have drifted from what it sent. */
export interface CoordinatorReporter extends StatusReporter {
  /** Sends every status again on the next pass (the coordinator changed some while it lost us). */
  forget(): void;
}

/**
 * Reports observed statuses to the coordinator, once per change: a status (and reason) already
 * reported is not sent again on the next pass. An unreachable coordinator is logged, not fatal; the next
 * pass after it returns sends what it missed.
 */
export function coordinatorReporter(
  api: ApiClient,
  nodeId: string,
  logger?: Logger,
): CoordinatorReporter {
  const sent = new Map<string, string>();
  return {
    forget: () => sent.clear(),
    async report(
      ref: InstanceRef,
      status: InstanceStatus,
      failureReason?: string,
      revision?: string,
    ) {
      const key = `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;
      const said = `${status}\n${failureReason ?? ''}\n${revision ?? ''}`;
      if (sent.get(key) === said) return;
      // One id for this report in the agent's log and the coordinator's (X-Request-Id).
      const requestId = requestIdFrom(randomBytes(8));
      try {
        await api.call(
          'reportInstanceStatus',
          {
            params: {
              node: nodeId,
              tenant: ref.tenantId,
              pool: ref.poolId,
              instance: ref.instanceId,
            },
            body: {
              status,
              ...(revision !== undefined ? { revision } : {}),
              // A command's output may hold escapes the contract refuses: relay it defanged.
              ...(failureReason
                ? { failureReason: toMultilineText(failureReason, MAX_FAILURE_REASON) }
                : {}),
            },
          },
          { requestId },
        );
        sent.set(key, said);
        logger?.info({ requestId, instance: key, status }, 'reported instance status');
      } catch (error) {
        sent.delete(key);
        // The record is gone once the coordinator has seen it destroyed: nothing left to say.
        if (isMvmError(error) && error.code === 'not_found') return;
        logger?.warn(
          { requestId, instance: key, err: error },
          'status report failed; will retry on the next pass',
        );
      }
    },
  };
}
