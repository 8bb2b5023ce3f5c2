/**
 * Stores (and repos) with some members replaced, spied on or failing, for the tests that check
 * what a service reads or writes through the store. Every member not replaced is the target's
 * own, its methods bound to the target, so a class's private fields keep working.
 */
import type { Repos, Store } from '../../src/ports/store.ts';

type Method = (...args: unknown[]) => unknown;

/** `target[key]` as the target itself would use it: a method is bound to the target. */
export function bound<T extends object>(target: T, key: string | symbol): unknown {
  const value: unknown = Reflect.get(target, key, target);
  return typeof value === 'function' ? (value as Method).bind(target) : value;
}

/**
 * `target` with the members of `members` in place of its own (a getter there runs on each
 * read); every other member is the target's own.
 */
export function overriding<T extends object>(target: T, members: Partial<T>): T {
  return new Proxy(target, {
    get: (object, key) => {
      if (Object.hasOwn(members, key)) return Reflect.get(members, key);
      if (key === 'reads' && isStore(object)) return readsWith(object, members);
      return bound(object, key);
    },
  });
}

function isStore(target: object): target is Store {
  return typeof (target as Partial<Store>).reads === 'function' && 'instances' in target;
}

/**
 * A store's reads on one connection (Store.reads) given the repos `members` replaces in place
 * of that connection's: they too are outside transactions (each getter read on each use).
 */
function readsWith(store: Store, members: object): Store['reads'] {
  return (fn) =>
    store.reads((repos) =>
      fn(
        new Proxy(repos, {
          get: (given, key) =>
            Object.hasOwn(members, key) ? Reflect.get(members, key) : Reflect.get(given, key),
        }),
      ),
    );
}

/** What a spy hears of each call it watches. */
export interface Spy {
  /** Before the call, with its arguments. */
  before?(method: string, args: unknown[]): void;
  /** Once the call has answered (a promise: resolved), with its answer. */
  after?(method: string, args: unknown[], answer: unknown): void;
}

/** `target` telling `spy` of each call of `methods` (of every method when none are named). */
export function spying<T extends object>(target: T, spy: Spy, methods?: readonly string[]): T {
  return new Proxy(target, {
    get(object, key) {
      const value = bound(object, key);
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      if (methods !== undefined && !methods.includes(key)) return value;
      return (...args: unknown[]) => {
        spy.before?.(key, args);
        const answer = (value as Method)(...args);
        if (!spy.after) return answer;
        const after = spy.after.bind(spy);
        if (!(answer instanceof Promise)) {
          after(key, args, answer);
          return answer;
        }
        return answer.then((resolved: unknown) => {
          after(key, args, resolved);
          return resolved;
        });
      };
    },
  });
}

/**
 * `store` whose repos are replaced by `wrap`'s (those it answers), outside transactions and in
 * the repos each transaction hands over, or only in those (`transactions`).
 */
export function withRepos(
  store: Store,
  wrap: (repos: Repos) => Partial<Repos>,
  where: 'everywhere' | 'transactions' = 'everywhere',
): Store {
  const transaction: Store['transaction'] = (fn) =>
    store.transaction((repos) => fn({ ...repos, ...wrap(repos) }));
  // Reads on one connection are outside transactions: wrapped where the store's own repos are.
  const reads: Store['reads'] = (fn) => store.reads((repos) => fn({ ...repos, ...wrap(repos) }));
  return overriding(store, {
    ...(where === 'everywhere' ? { ...wrap(store), reads } : {}),
    transaction,
  });
}

/**
 * `store` telling `spy` of every call of the repos named (of every repo when none are), outside
 * transactions, with `repo.method` as the method's name.
 */
export function spyingRepos(store: Store, spy: Spy, repos?: readonly string[]): Store {
  const wrapped = new Map<string | symbol, unknown>();
  const named = (repo: string): Spy => ({
    before: spy.before && ((method, args) => spy.before?.(`${repo}.${method}`, args)),
    after: spy.after && ((method, args, answer) => spy.after?.(`${repo}.${method}`, args, answer)),
  });
  // The repos of reads on one connection (Store.reads) are spied on as the store's own are.
  const reads: Store['reads'] = (fn) =>
    store.reads((given) => {
      const spied = new Map<string | symbol, unknown>();
      return fn(
        new Proxy(given, {
          get(target, key) {
            const value = bound(target, key);
            if (typeof value !== 'object' || value === null || typeof key !== 'string')
              return value;
            if (repos !== undefined && !repos.includes(key)) return value;
            if (!spied.has(key)) spied.set(key, spying(value, named(key)));
            return spied.get(key);
          },
        }),
      );
    });
  return new Proxy(store, {
    get(target, key) {
      if (key === 'reads') return reads;
      const value = bound(target, key);
      if (typeof value !== 'object' || value === null || typeof key !== 'string') return value;
      if (repos !== undefined && !repos.includes(key)) return value;
      if (!wrapped.has(key)) wrapped.set(key, spying(value, named(key)));
      return wrapped.get(key);
    },
  });
}
