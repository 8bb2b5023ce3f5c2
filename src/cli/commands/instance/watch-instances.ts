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
 * A stream that breaks is reopened; the list it starts with again is diffed against what was
 * already handed over, so only what changed meanwhile (deletions too) is handed over.
 */
export async function watchInstances(
  client: ApiClient,
  query: CallInput<'watchInstances'>['query'],
  signal: AbortSignal,
  onChange: (change: InstanceChange) => void,
  options: WatchOptions = {},
): Promise<void> {
  let view: WatchView<InstanceView> = { rows: new Map() };
  while (!signal.aborted) {
    let snapshot: InstanceView[] | undefined = [];
    const onMessage = (event: string | undefined, data: string) => {
      if (event === 'instance') {
        const change = changeSchema.parse(JSON.parse(data));
        if (snapshot) return void snapshot.push(change.instance);
        const rows = new Map(view.rows);
        const key = keyOf(change.instance);
        if (change.type === 'deleted') rows.delete(key);
        else rows.set(key, [fingerprintOf(change.instance), change.instance]);
        view = { rows };
        onChange({ type: change.type, key, item: change.instance });
      } else if (event === 'synced' && snapshot) {
        const step = diffView(view, snapshot, keyOf, fingerprintOf);
        view = step.next;
        snapshot = undefined;
        for (const change of step.changes) onChange(change);
      }
    };
    const response = await connect(client, query, signal);
    try {
      if (response) await readServerSentEvents(response, signal, onMessage);
    } catch {
      // The stream broke (a restart, a proxy, the network): reconnect and catch up.
    }
    await pause(options.reconnectMs ?? 1000, signal);
  }
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
