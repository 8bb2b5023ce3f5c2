import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../ports/logger.ts';

/**
 * The request id the current work is done for (docs/api.md, "Request ids"): set by the
 * coordinator around each request it serves and by the agent around the work it does for one
 * instance of a desired document. Everything awaited inside sees it: the store records it on
 * the instances a change touches, the guest agent client sends it, and requestLogger writes it
 * in every line.
 */
const current = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return current.getStore();
}

/** Runs `fn` for `requestId`; without one, `fn` runs in the caller's context unchanged. */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId === undefined ? fn() : current.run(requestId, fn);
}

/** A logger whose lines carry the id of the request they were written for, if any. */
export function requestLogger(base: Logger): Logger {
  const withId = (obj: object): object => {
    const requestId = current.getStore();
    return requestId === undefined || 'requestId' in obj ? obj : { requestId, ...obj };
  };
  return {
    debug: (obj, msg) => base.debug(withId(obj), msg),
    info: (obj, msg) => base.info(withId(obj), msg),
    warn: (obj, msg) => base.warn(withId(obj), msg),
    error: (obj, msg) => base.error(withId(obj), msg),
  };
}
