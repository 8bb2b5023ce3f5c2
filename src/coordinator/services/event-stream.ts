import type { AuditEvent } from '../../core/model.ts';
import { advanceFollow, startFollow, type FollowState } from '../../core/event-follow.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ServiceDeps } from './context.ts';

export interface EventStreamSettings {
  /** How often a follower reads the log. */
  pollMs: number;
  /** Longer than any transaction stays open: how far the read window trails (event-follow.ts). */
  settleMs: number;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  keepaliveMs: number;
}

export const defaultEventStreamSettings: EventStreamSettings = {
  pollMs: 250,
  settleMs: 10_000,
  keepaliveMs: 15_000,
};

const READ_LIMIT = 500;

/** One audit event as a server-sent event: its id resumes the stream (Last-Event-ID). */
function frame(event: AuditEvent): string {
  return `id: ${event.id}\nevent: audit\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * `mvm events --follow`: audit events as server-sent events, oldest first, from `afterId` (or
 * from now). Reads the store, so events written by any replica arrive; each is sent once even
 * when a lower id commits after a higher one. Ends when the client goes away.
 */
export class EventStreamService {
  private readonly settings: EventStreamSettings;

  constructor(
    private readonly deps: ServiceDeps & { logger?: Logger },
    settings: Partial<EventStreamSettings> = {},
  ) {
    this.settings = { ...defaultEventStreamSettings, ...settings };
  }

  async open(tenantId: string | undefined, afterId: number | undefined, signal: AbortSignal) {
    const filter = tenantId === undefined ? {} : { tenantId };
    const start =
      afterId ?? (await this.deps.store.audit.list({ ...filter, limit: 1 }))[0]?.id ?? 0;
    const encoder = new TextEncoder();
    const { pollMs, settleMs, keepaliveMs } = this.settings;
    const store = this.deps.store;
    const clock = this.deps.clock;
    let state: FollowState = startFollow(start);
    let timer: NodeJS.Timeout | undefined;
    let lastWrite = Date.now();
    const stop = () => clearTimeout(timer);
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        const tick = async (): Promise<void> => {
          if (signal.aborted) return controller.close();
          try {
            const read = await store.audit.since({
              ...filter,
              afterId: state.lowWater,
              limit: READ_LIMIT,
            });
            const step = advanceFollow(
              state,
              read.map((e) => e.id),
              clock.now().getTime(),
              settleMs,
            );
            state = step.next;
            const byId = new Map(read.map((e) => [e.id, e]));
            const text = step.send.map((id) => frame(byId.get(id) as AuditEvent)).join('');
            // Events, or a comment once the stream has been quiet for keepaliveMs.
            const out =
              text !== '' || Date.now() - lastWrite < keepaliveMs ? text : ': keepalive\n\n';
            if (out !== '') {
              controller.enqueue(encoder.encode(out));
              lastWrite = Date.now();
            }
          } catch (err) {
            this.deps.logger?.warn({ err }, 'event stream read failed; retrying');
          }
          timer = setTimeout(() => void tick(), pollMs);
        };
        controller.enqueue(encoder.encode(': following audit events\n\n'));
        signal.addEventListener('abort', stop, { once: true });
        void tick();
      },
      cancel: stop,
    });
  }
}
