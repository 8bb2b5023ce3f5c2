/**
 * Whether a request failed only because its client went away while the server was still
 * reading it (connection reset, aborted upload): Node reports that on the request stream as
 * an `aborted` error with code ECONNRESET, or as a premature close. Anything else, even on a
 * connection that is gone by now, is a real error.
 */
export function clientWentAway(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  return (
    (code === 'ECONNRESET' && error.message === 'aborted') || code === 'ERR_STREAM_PREMATURE_CLOSE'
  );
}
