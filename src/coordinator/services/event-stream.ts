import type { AuditEvent } from '../../core/model.ts';
import { advanceFollow, startFollow, type FollowState } from '../../core/event-follow.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ServiceDeps } from './context.ts';
import { pollingSse } from './sse-poll.ts';

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
    const { settleMs } = this.settings;
    const { store, clock } = this.deps;
    let state: FollowState = startFollow(start);
    const read = async (): Promise<string> => {
      const events = await store.audit.since({
        ...filter,
        afterId: state.lowWater,
        limit: READ_LIMIT,
      });
      const step = advanceFollow(
        state,
        events.map((e) => e.id),
        clock.now().getTime(),
        settleMs,
      );
      state = step.next;
      const byId = new Map(events.map((e) => [e.id, e]));
      return step.send.map((id) => frame(byId.get(id) as AuditEvent)).join('');
    };
    return pollingSse({
      ...this.settings,
      hello: 'following audit events',
      read,
      signal,
      what: 'event stream',
      ...(this.deps.logger ? { logger: this.deps.logger } : {}),
    });
  }
}
