import type { SignedEnvelope } from '../../contract/desired.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { DesiredFileStore } from '../desired/desired-file-store.ts';
import type { DesiredMarkFile } from '../desired/desired-mark-file.ts';
import { DesiredRefusedError, type VerifiedDocument } from '../desired/verify-desired.ts';
import { watchDesired } from '../desired/watch-desired.ts';
import { DocumentSaver } from './document-saver.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { LeaseView } from '../lease/node-lease.ts';
import type { LeaseState } from '../../core/node-lease.ts';
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
  /** Instances this node imports and does not own yet (MoveWorker): never destroyed here. */
  incoming?: ReadonlySet<string>;
  store: DesiredFileStore;
  /** How far documents have been seen, kept apart from them; absent: the saved document's. */
  marks?: DesiredMarkFile;
  /** Documents from the coordinator signed longer ago than this are refused (a replay). */
  maxAgeMs?: number;
  reporter?: StatusReporter;
  clock: Clock;
  logger?: Logger;
  signal: AbortSignal;
  /** Re-converge on the last document this often, to repair drift (default 30 s). */
  resyncMs?: number;
  onPass?: (generation: number, steps: ReconcileStep[]) => void;
  /** The node's lease: passes follow it, and a change of its state starts one at once. */
  lease?: LeaseView;
}

/**
 * The agent's loop: converge on the last accepted document at once (it survives restarts and
 * coordinator outages), then on every newer verified document the watch delivers, and again
 * periodically. Passes never overlap: a new document waits for the running pass to finish.
 * With a mark file, a new document is acted on once its mark is durable, while the document
 * itself is written (DocumentSaver): the mark is ~100 bytes, the document ~280 KiB at 100k.
 */
export async function runAgentLoop(options: AgentLoopOptions): Promise<void> {
  let current = await loadSaved(options);
  let running: Promise<void> = Promise.resolve();
  let leaseSeen: LeaseState | undefined;
  const leaseNow = (): LeaseState | undefined =>
    options.lease?.state(current?.document.generation ?? 0);
  /** One pass; `next`: on a newer document, acting once its mark is durable (planned before). */
  const pass = (next?: { verified: VerifiedDocument; marked: Promise<void> }): Promise<void> => {
    const thisPass = running.then(async () => {
      const on = next?.verified ?? current;
      const lease = options.lease?.state(on?.document.generation ?? 0);
      leaseSeen = lease;
      if (!on) return;
      const steps = await reconcileDocument({
        document: on.document,
        runtime: options.runtime,
        ...(next ? { ready: next.marked } : {}),
        ...(options.network ? { network: options.network } : {}),
        ...(options.reporter ? { reporter: options.reporter } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        ...(lease ? { lease } : {}),
        ...(options.incoming ? { incoming: options.incoming } : {}),
      });
      options.onPass?.(on.document.generation, steps);
    });
    // A failed pass (its mark not written) says so to its caller and does not stop the next.
    running = thisPass.catch(() => undefined);
    return thisPass;
  };
  await pass();
  const timer = setInterval(() => void pass(), options.resyncMs ?? 30_000);
  const fence = watchLease(options.lease, () => leaseNow() !== leaseSeen, pass);
  const mark = options.marks?.current;
  const saver = new DocumentSaver({
    store: options.store,
    clock: options.clock,
    signal: options.signal,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  try {
    await watchDesired({
      api: options.api,
      nodeId: options.nodeId,
      trustedKeys: options.trustedKeys,
      production: options.production,
      // Without a document of its own (refused, wiped), ask again for the marked generation.
      lastGeneration: current?.document.generation ?? Math.max((mark?.generation ?? 0) - 1, 0),
      ...lastIssuedAt(current, mark?.issuedAt),
      ...(options.marks ? { minGeneration: minGeneration(options.marks) } : {}),
      ...(options.maxAgeMs !== undefined ? { maxAgeMs: options.maxAgeMs } : {}),
      signal: options.signal,
      clock: options.clock,
      onDocument: async (verified: VerifiedDocument, envelope: SignedEnvelope) => {
        if (!options.marks) {
          // Nothing else would tell a restart that the saved document is behind what acted.
          await options.store.save(envelope);
          current = verified;
          return pass();
        }
        // The mark first, then acting while the document is written: a crash before the
        // document is on disk leaves the mark ahead of the saved one, which the next start
        // refuses, changing nothing until the watch hands it this generation or a newer one.
        // (A pass on the older document would destroy what this one created.) The pass plans
        // while the mark is written and acts on nothing before it is durable; a failed mark
        // fails the pass before any action, and the watch hands the document over again.
        const marked = options.marks.accepted(verified.document).then(() => {
          current = verified;
        });
        const acting = pass({ verified, marked });
        await Promise.all([
          marked.then(() => saver.save(envelope, verified.document.generation)),
          acting,
        ]);
      },
      onError: (error, retryInMs) => logWatchError(options.logger, error, retryInMs),
    });
  } finally {
    clearInterval(timer);
    clearInterval(fence);
    await running;
    await saver.settled();
  }
}

/**
 * Looks at the lease often and runs a pass when its state changed since the last one (an
 * expiry pauses, a renewal resumes); one such pass waits in the queue at a time.
 */
function watchLease(
  lease: LeaseView | undefined,
  changed: () => boolean,
  pass: () => Promise<void>,
): NodeJS.Timeout | undefined {
  if (!lease) return undefined;
  let queued = false;
  return setInterval(() => {
    if (queued || !changed()) return;
    queued = true;
    void pass().finally(() => (queued = false));
  }, lease.checkEveryMs);
}

/**
 * The last accepted document, verified again; one behind the mark (a desired.json put back
 * from an older copy, or the agent died acting on a newer one before it was written) is
 * refused and the agent waits for a fresh one, changing nothing.
 */
async function loadSaved(options: AgentLoopOptions): Promise<VerifiedDocument | undefined> {
  const mark = options.marks?.current;
  try {
    return await options.store.loadVerified({
      trustedKeys: options.trustedKeys,
      production: options.production,
      nodeId: options.nodeId,
      ...(mark ? { lastGeneration: mark.generation - 1 } : {}),
      ...(mark?.issuedAt !== undefined ? { lastIssuedAt: mark.issuedAt } : {}),
    });
  } catch (error) {
    options.logger?.warn(
      { err: error, ...refusalOf(error) },
      'saved desired document refused; waiting for a fresh one',
    );
    return undefined;
  }
}

function lastIssuedAt(
  current: VerifiedDocument | undefined,
  marked: string | undefined,
): { lastIssuedAt?: string } {
  const times = [current?.document.issuedAt, marked].filter((t) => t !== undefined);
  const latest = times.sort((a, b) => Date.parse(b) - Date.parse(a))[0];
  return latest === undefined ? {} : { lastIssuedAt: latest };
}

function minGeneration(marks: DesiredMarkFile): () => number {
  return () => marks.current.coordinatorGeneration;
}

function refusalOf(error: unknown): { refused?: string } {
  return error instanceof DesiredRefusedError ? { refused: error.reason } : {};
}

/** A refused document is said as such: it changed nothing, and its reason is what to fix. */
function logWatchError(logger: Logger | undefined, error: unknown, retryInMs: number): void {
  if (error instanceof DesiredRefusedError) {
    logger?.warn(
      { err: error, refused: error.reason, ...error.details, retryInMs },
      'desired-state document refused; nothing applied',
    );
    return;
  }
  logger?.warn({ err: error, retryInMs }, 'desired watch');
}
