import { z } from 'zod';
import { MvmError, type ErrorCode } from '../../../core/errors.ts';
import { diffView, type WatchChange, type WatchView } from '../../../core/instance-watch.ts';
import { instanceSchema, type InstanceView } from '../../../contract/resources.ts';
import type { ApiClient, CallInput } from '../../../drivers/coordinator-api/api-client.ts';
import { readServerSentEvents } from '../../../drivers/coordinator-api/sse.ts';

export type InstanceChange = WatchChange<InstanceView>;

const changeSchema = z.object({
  type: z.enum(['added', 'modified', 'deleted']),
  instance: instanceSchema,
});

const RETRIED: ReadonlySet<ErrorCode> = new Set(['unavailable', 'store_unavailable']);
const keyOf = (i: InstanceView) => `${i.tenantId}/${i.poolId}/${i.id}`;
const fingerprintOf = (i: InstanceView) => JSON.stringify(i);

export interface WatchOptions {
  /** How long to wait before reconnecting a stream that ended. */
  reconnectMs?: number;
}

/**
 * Follows the coordinator's instance watch (GET /v1/instances/watch) until `signal` aborts,
 * handing over each change: first the whole list as `added`, then each change as it happens.
 * A stream that breaks is reopened from the id of the last batch it saw (`since`), so the
 * coordinator sends only what changed meanwhile (deletions too); the changes are checked
 * against what was already handed over, so nothing is handed over twice. A coordinator that
 * sends no ids (older) or cannot resume (`reset`: the cursor is from before its pruned
 * tombstones) sends the list again, which is diffed the same way.
 */
export async function watchInstances(
  client: ApiClient,
  query: CallInput<'watchInstances'>['query'],
  signal: AbortSignal,
  onChange: (change: InstanceChange) => void,
  options: WatchOptions = {},
): Promise<void> {
  let view: WatchView<InstanceView> = { rows: new Map() };
  let since: number | undefined;
  while (!signal.aborted) {
    let snapshot: InstanceView[] | undefined = [];
    let batchId: number | undefined;
    const apply = (type: InstanceChange['type'], instance: InstanceView) => {
      const key = keyOf(instance);
      const before = view.rows.get(key);
      const rows = new Map(view.rows);
      if (type === 'deleted') {
        // A resumed stream also names rows that left the filter, shown here or not.
        if (before === undefined) return;
        rows.delete(key);
        view = { rows };
        return onChange({ type, key, item: before[1] });
      }
      const fingerprint = fingerprintOf(instance);
      if (before?.[0] === fingerprint) return;
      rows.set(key, [fingerprint, instance]);
      view = { rows };
      onChange({ type: before === undefined ? 'added' : 'modified', key, item: instance });
    };
    const onMessage = (event: string | undefined, data: string, id: string | undefined) => {
      if (id !== undefined && /^\d+$/.test(id)) batchId = Number(id);
      if (event === 'instance') {
        const change = changeSchema.parse(JSON.parse(data));
        if (snapshot) return void snapshot.push(change.instance);
        apply(change.type, change.instance);
      } else if (event === 'resumed') {
        snapshot = undefined;
      } else if (event === 'reset') {
        // Resumed from before the pruned tombstones: the whole list follows, diffed at synced
        // against what was handed over (rows missing from it are handed over deleted).
        snapshot = [];
      } else if (event === 'synced' && snapshot) {
        const step = diffView(view, snapshot, keyOf, fingerprintOf);
        view = step.next;
        snapshot = undefined;
        for (const change of step.changes) onChange(change);
      }
      // Only a whole batch moves the cursor: one cut off mid-batch is read again.
      if (batchId !== undefined && snapshot === undefined) since = batchId;
    };
    const response = await connect(client, resumeQuery(query, since), signal);
    try {
      if (response) await readServerSentEvents(response, signal, onMessage);
    } catch {
      // The stream broke (a restart, a proxy, the network): reconnect and catch up.
    }
    await pause(options.reconnectMs ?? 1000, signal);
  }
}

function resumeQuery(
  query: CallInput<'watchInstances'>['query'],
  since: number | undefined,
): CallInput<'watchInstances'>['query'] {
  return since === undefined ? query : { ...query, since: String(since) };
}

/**
 * The stream, or undefined when the coordinator cannot be reached for now; a refusal (a bad
 * filter, a revoked token, a missing tenant) ends the watch.
 */
async function connect(
  client: ApiClient,
  query: CallInput<'watchInstances'>['query'],
  signal: AbortSignal,
): Promise<Response | undefined> {
  try {
    return await client.open('watchInstances', { query: query ?? {} }, { signal, timeoutMs: 0 });
  } catch (error) {
    if (signal.aborted) return undefined;
    if (error instanceof MvmError && RETRIED.has(error.code)) return undefined;
    throw error;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
