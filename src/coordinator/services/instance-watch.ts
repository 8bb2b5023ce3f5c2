import { diffView, emptyView, type WatchView } from '../../core/instance-watch.ts';
import type { Instance } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceFilter } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { loadTenant } from './tenant-service.ts';
import { pollingSse, type SsePace } from './sse-poll.ts';

export const defaultInstanceWatchPace: SsePace = { pollMs: 500, keepaliveMs: 15_000 };

export const instanceKey = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
/** Everything an answer shows about an instance: any visible change is a change. */
const fingerprint = (i: Instance) => JSON.stringify(i);

function frame(type: string, instance: Instance): string {
  return `event: instance\ndata: ${JSON.stringify({ type, instance })}\n\n`;
}

/**
 * `mvm instance list --watch`: the instances a filter selects as server-sent events, first the
 * whole list (`added` each, then `synced`), then each change as the store shows it (`added`,
 * `modified`, `deleted`). It reads the store, so every replica's writes arrive. A client that
 * reconnects gets the whole list again and diffs it against what it showed (core/instance-watch).
 */
export class InstanceWatchService {
  private readonly pace: SsePace;

  constructor(
    private readonly deps: ServiceDeps & { logger?: Logger },
    pace: Partial<SsePace> = {},
  ) {
    this.pace = { ...defaultInstanceWatchPace, ...pace };
  }

  async open(filter: InstanceFilter, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    if (filter.tenantId !== undefined) await loadTenant(this.deps.store, filter.tenantId);
    const store = this.deps.store;
    let view: WatchView<Instance> = emptyView();
    let synced = false;
    const read = async (): Promise<string> => {
      const step = diffView(view, await store.instances.list(filter), instanceKey, fingerprint);
      view = step.next;
      const text = step.changes.map((c) => frame(c.type, c.item)).join('');
      if (synced) return text;
      synced = true;
      return `${text}event: synced\ndata: ${JSON.stringify({ count: view.rows.size })}\n\n`;
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
