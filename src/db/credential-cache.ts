/** How long a credential looked up is trusted without a read (other replicas' revocations). */
export const DEFAULT_CREDENTIAL_CACHE_MS = 1_000;
/** Entries kept at most; the oldest go first. Far above the live credentials of a fleet. */
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  token: T;
  until: number;
}

/**
 * Credential lookups for authentication (bearer tokens by hash, node certificates by serial),
 * kept for `ttlMs`: every agent request (heartbeat, status report, watch) would otherwise read
 * its credential's row first. A revocation through this process (any repo of its store, in a
 * transaction or not) empties the cache, at the revoke and again after its commit, and a
 * lookup that was under way across either is not kept: it may have read the row before the
 * commit. Revocations through another replica take effect here within `ttlMs`. Unknown keys
 * are not cached (they cost a read each, as before); misses of one key while its read is
 * under way wait for that read instead of making their own.
 */
export class CredentialCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Lookups under way: concurrent misses of one hash share one read. */
  private readonly loading = new Map<string, Promise<T | undefined>>();
  /** Moves on every revocation; a lookup is kept only if it did not move while it ran. */
  private epoch = 0;

  constructor(
    readonly ttlMs: number = DEFAULT_CREDENTIAL_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async find(hash: string, load: (hash: string) => Promise<T | undefined>): Promise<T | undefined> {
    const at = this.now();
    const cached = this.entries.get(hash);
    if (cached && cached.until > at) return cached.token;
    if (cached) this.entries.delete(hash);
    const shared = this.loading.get(hash);
    if (shared) return shared;
    const epoch = this.epoch;
    const loaded = load(hash).then(
      (token) => {
        if (this.loading.get(hash) === loaded) this.loading.delete(hash);
        if (token && this.ttlMs > 0 && epoch === this.epoch) this.keep(hash, token, at);
        return token;
      },
      (error: unknown) => {
        if (this.loading.get(hash) === loaded) this.loading.delete(hash);
        throw error;
      },
    );
    if (this.ttlMs > 0) this.loading.set(hash, loaded);
    return loaded;
  }

  private keep(hash: string, token: T, at: number): void {
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(hash, { token, until: at + this.ttlMs });
  }

  /** A credential was (or is about to be) revoked: nothing read before now is trusted again. */
  revoked(): void {
    this.epoch += 1;
    this.entries.clear();
    // A lookup under way may have read the row before the revocation: later callers start anew.
    this.loading.clear();
  }
}
