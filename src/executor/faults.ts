/**
 * Test-only fault hook: `MVM_EXECUTOR_FAULT=<point>:<seq>` makes the executor kill itself with
 * SIGKILL at that point around that call, as a crash would. Off unless the variable is set.
 */
export const faultPoints = ['before_record', 'after_record', 'after_response', 'after_complete'];
export type FaultPoint = (typeof faultPoints)[number];

export function faultHook(spec: string | undefined): (point: FaultPoint, seq: number) => void {
  if (spec === undefined || spec === '') return () => undefined;
  const [point, seq] = spec.split(':');
  if (!faultPoints.includes(point ?? '') || !/^\d+$/.test(seq ?? '')) {
    throw new Error(
      `MVM_EXECUTOR_FAULT must be <point>:<seq>, point one of ${faultPoints.join(', ')}`,
    );
  }
  return (at, n) => {
    if (at === point && n === Number(seq)) process.kill(process.pid, 'SIGKILL');
  };
}
