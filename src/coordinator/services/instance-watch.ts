import type { Instance } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceChanges, InstanceFilter } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { loadTenant } from './tenant-service.ts';
import { pollingSse, type SsePace } from './sse-poll.ts';
import { HorizonLook } from './watch-horizon.ts';

export interface InstanceWatchPace extends SsePace {
  /**
   * How often a connected watch reads the pruning horizon (one indexed row): when it has
   * passed a cursor the watch read from since its last look, the watch starts over (`reset`).
   */
  horizonMs: number;
}

export const defaultInstanceWatchPace: InstanceWatchPace = {
  pollMs: 500,
  keepaliveMs: 15_000,
  horizonMs: 2_000,
};

export const instanceKey = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;

type Filter = Pick<InstanceFilter, 'tenantId' | 'poolId' | 'nodeId' | 'status'>;

const resetFrame = (since: number, horizon: number, reason: 'pruned' | 'unknown') =>
  `event: reset\ndata: ${JSON.stringify({ since, horizon, reason })}\n\n`;

function frame(type: string, instance: Instance, id?: number): string {
  const data = `event: instance\ndata: ${JSON.stringify({ type, instance })}\n`;
  return id === undefined ? `${data}\n` : `${data}id: ${id}\n\n`;
}

/**
 * The frames for a batch of changes, updating what the stream has shown (key → version). A
 * row that no longer matches is `deleted` if it was shown, or on a resumed stream (the client
 * may hold it); one version of a row is sent once.
 */
function changeFrames(
  changes: InstanceChanges['changes'],
  shown: Map<string, number>,
  selects: (i: Instance) => boolean,
  resumed: boolean,
): string[] {
  const frames: string[] = [];
  for (const { instance, deleted } of changes) {
    const key = instanceKey(instance);
    const had = shown.has(key);
    if (!deleted && selects(instance)) {
      if (shown.get(key) === instance.version) continue;
      shown.set(key, instance.version);
      frames.push(frame(had ? 'modified' : 'added', instance));
    } else if (had || resumed) {
      shown.delete(key);
      frames.push(frame('deleted', instance));
    }
  }
  return frames;
}

/** The event id goes on the last frame of a batch: a client cut off mid-batch reads it again. */
function withId(frames: string[], id: number): string {
  const last = frames.at(-1);
  if (last === undefined) return '';
  return [...frames.slice(0, -1), `${last.slice(0, -1)}id: ${id}\n\n`].join('');
}

/**
 * `mvm instance list --watch`: the instances a filter selects as server-sent events, first the
 * whole list (`added` each, then `synced`), then each change (`added`, `modified`, `deleted`).
 * After the list it reads only the rows changed since its cursor (the store's change index,
 * every replica's writes included) and deletions from their tombstones; each batch carries
 * the cursor as its event id. A client that comes back with that id (`Last-Event-ID` or
 * `?since=`) gets `resumed` and then only what changed since, instead of the list: a row it
 * may not have gets `added`, one that left its filter or was deleted gets `deleted`, which a
 * client ignores for rows it does not have (docs/api.md, "Watching instances"). One that comes
 * back from before the pruned tombstones (or with a cursor this store never gave) gets `reset`
 * first, then the whole list as a new watch does: it drops what it held and starts over. So
 * does a connected watch when the horizon passes a cursor it read from (its reads stalled, or
 * a replica's clock ran ahead): tombstones it was not yet sent may be gone.
 */
export class InstanceWatchService {
  private readonly pace: InstanceWatchPace;

  constructor(
    private readonly deps: ServiceDeps & { logger?: Logger },
    pace: Partial<InstanceWatchPace> = {},
  ) {
    this.pace = { ...defaultInstanceWatchPace, ...pace };
  }

  async open(
    filter: Filter,
    signal: AbortSignal,
    since?: number,
  ): Promise<ReadableStream<Uint8Array>> {
    if (filter.tenantId !== undefined) await loadTenant(this.deps.store, filter.tenantId);
    const store = this.deps.store;
    const now = await store.instances.changeCursor();
    // Read after the cursor, before the list: tombstones below it are of rows the list lacks.
    const known = await store.instances.changeHorizon();
    // A cursor from the future (another database, a typo) cannot be resumed, nor one from
    // before the pruned tombstones (deletions it would miss): `reset`, then the whole list.
    let resumed = since !== undefined && since <= now && since >= known;
    let reset =
      since === undefined || resumed
        ? ''
        : resetFrame(since, known, since > now ? 'unknown' : 'pruned');
    let cursor = resumed && since !== undefined ? since : now;
    /** What this stream has shown: key → version (a re-read of the same version is skipped). */
    const shown = new Map<string, number>();
    const scope = {
      ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}),
      ...(filter.poolId !== undefined ? { poolId: filter.poolId } : {}),
    };
    const selects = (i: Instance) =>
      (filter.nodeId === undefined || i.nodeId === filter.nodeId) &&
      (filter.status === undefined || i.status === filter.status);
    const listing = async (): Promise<string> => {
      shown.clear();
      const list = await store.instances.list(filter);
      for (const i of list) shown.set(instanceKey(i), i.version);
      const synced = `event: synced\ndata: ${JSON.stringify({ count: list.length })}\nid: ${cursor}\n\n`;
      return reset + list.map((i) => frame('added', i)).join('') + synced;
    };
    const horizon = new HorizonLook(known, this.pace.horizonMs, () =>
      store.instances.changeHorizon(),
    );
    let started = false;
    const read = async (): Promise<string> => {
      if (!started) {
        started = true;
        if (resumed)
          return `event: resumed\ndata: ${JSON.stringify({ since: cursor })}\nid: ${cursor}\n\n`;
        return listing();
      }
      horizon.reading(cursor);
      const { changes, next } = await store.instances.changesSince(cursor, scope);
      const passed = await horizon.passed();
      if (passed) {
        // Tombstones this stream was not sent may be gone: start over from a fresh list.
        this.deps.logger?.info(passed, 'instance watch reset: pruning passed its cursor');
        resumed = false;
        reset = resetFrame(passed.since, passed.horizon, 'pruned');
        cursor = await store.instances.changeCursor();
        return listing();
      }
      cursor = next;
      return withId(changeFrames(changes, shown, selects, resumed), cursor);
    };
    return pollingSse({
      ...this.pace,
      hello: 'watching instances',
      read,
      signal,
      what: 'instance watch',
      ...(this.deps.logger ? { logger: this.deps.logger } : {}),
    });
  }
}
