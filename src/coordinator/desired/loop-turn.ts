import type { WriteActivity } from './write-activity.ts';

/**
 * Resolves once the event loop has polled for I/O again: what arrived while the caller ran
 * (a scale's statement's answer, a request) is handled before the caller goes on. One
 * setImmediate is not enough: queued from an I/O callback (the store's answer), it runs in
 * the same turn's check phase, before the loop polls again; the second, queued from the
 * check phase, runs in the next turn's, after its poll.
 */
export function loopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/**
 * The pauses of one document computation between its synchronous steps (the rows and marks
 * read, the tenants' inputs, the build and digest, the signature, the answer): at each, the
 * loop takes what arrived (`loopTurn`), and while writes are in progress in this process
 * (WriteActivity: scales, instance actions) the computation waits for them to end, `budgetMs`
 * in all at most. A write's statements then do not queue behind the document's steps on the
 * event loop; a change with no write beside it (an agent acting on one change) waits for
 * nothing but the loop's turns.
 */
export function stepTurns(
  writes: WriteActivity,
  budgetMs: number,
  signal?: AbortSignal,
): () => Promise<void> {
  const untilMs = writes.now() + budgetMs;
  return async () => {
    await loopTurn();
    // Grace 0: as soon as no write is in progress.
    if (writes.inFlight > 0 && writes.now() < untilMs) await writes.quiet(0, untilMs, signal);
  };
}
