import { EventEmitter } from 'node:events';

/**
 * Tells waiting desired-state watchers that something which may change a node's document was
 * committed in this process. A counter rather than a bare event: a watcher notes the count
 * before it reads the store, so a change committed while it was reading is never missed.
 * Other replicas' changes arrive through the watchers' bounded store poll instead.
 */
export class ChangeNotifier {
  private count = 0;
  private readonly events = new EventEmitter();

  constructor() {
    // One listener per waiting watcher: a node count, not a leak.
    this.events.setMaxListeners(0);
  }

  get current(): number {
    return this.count;
  }

  notify(): void {
    this.count += 1;
    this.events.emit('change');
  }

  /** Resolves once the count has passed `since`, after `ms`, or when `signal` aborts. */
  waitForChange(since: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.count !== since || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('change', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.events.on('change', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
