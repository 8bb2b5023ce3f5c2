import type { SignedEnvelope } from '../../contract/desired.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { DesiredFileStore } from '../desired/desired-file-store.ts';
import type { VerifiedDocument } from '../desired/verify-desired.ts';
import { watchDesired } from '../desired/watch-desired.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import {
  reconcileDocument,
  type DocumentNetwork,
  type ReconcileStep,
  type StatusReporter,
} from './reconcile-document.ts';

export interface AgentLoopOptions {
  /** The coordinator, as this node (token or mTLS): the document watch goes through it. */
  api: Pick<ApiClient, 'call'>;
  nodeId: string;
  trustedKeys: readonly string[];
  production: boolean;
  runtime: InstanceRuntime;
  /** The tenant network, given each document's VXLAN peers (absent when networking is off). */
  network?: DocumentNetwork;
  store: DesiredFileStore;
  reporter?: StatusReporter;
  clock: Clock;
  logger?: Logger;
  signal: AbortSignal;
  /** Re-converge on the last document this often, to repair drift (default 30 s). */
  resyncMs?: number;
  onPass?: (generation: number, steps: ReconcileStep[]) => void;
}

/**
 * The agent's loop: converge on the last accepted document at once (it survives restarts and
 * coordinator outages), then on every newer verified document the watch delivers, and again
 * periodically. Passes never overlap: a new document waits for the running pass to finish.
 */
export async function runAgentLoop(options: AgentLoopOptions): Promise<void> {
  let current: VerifiedDocument | undefined = await options.store
    .loadVerified({
      trustedKeys: options.trustedKeys,
      production: options.production,
      nodeId: options.nodeId,
    })
    .catch((error: unknown) => {
      options.logger?.warn(
        { err: error },
        'saved desired document refused; waiting for a fresh one',
      );
      return undefined;
    });
  let running: Promise<void> = Promise.resolve();
  const pass = (): Promise<void> => {
    running = running.then(async () => {
      if (!current) return;
      const steps = await reconcileDocument({
        document: current.document,
        runtime: options.runtime,
        ...(options.network ? { network: options.network } : {}),
        ...(options.reporter ? { reporter: options.reporter } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      options.onPass?.(current.document.generation, steps);
    });
    return running;
  };
  await pass();
  const timer = setInterval(() => void pass(), options.resyncMs ?? 30_000);
  try {
    await watchDesired({
      api: options.api,
      nodeId: options.nodeId,
      trustedKeys: options.trustedKeys,
      production: options.production,
      lastGeneration: current?.document.generation ?? 0,
      signal: options.signal,
      clock: options.clock,
      onDocument: async (verified: VerifiedDocument, envelope: SignedEnvelope) => {
        await options.store.save(envelope);
        current = verified;
        await pass();
      },
      onError: (error, retryInMs) =>
        options.logger?.warn({ err: error, retryInMs }, 'desired watch'),
    });
  } finally {
    clearInterval(timer);
    await running;
  }
}
