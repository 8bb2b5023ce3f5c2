import { ValidationError } from '../../../core/errors.ts';
import { MAX_SLEEP_POLICY_SECS } from '../../../core/sleep-policy.ts';
import { option } from '../../command.ts';
import { integer, type ValueSpec } from '../../values.ts';

const PORT = /^(?:[1-9][0-9]{0,4})$/;

/** `80,8080`, or `none` for no ports. Every bad entry is named, as the other values do. */
export const portList: ValueSpec<number[]> = {
  placeholder: '<port,...>',
  parse(raw, label) {
    if (raw === 'none') return [];
    const ports = raw.split(',').map((part) => part.trim());
    const bad = ports.filter((p) => !PORT.test(p) || Number(p) > 65_535);
    if (bad.length > 0 || ports.length === 0) {
      const problem = `${label} '${raw}' must be TCP ports 1-65535 separated by commas, like 80,8080, or none (bad: ${bad.join(' ') || 'empty'})`;
      throw new ValidationError(problem, [problem]);
    }
    return ports.map(Number);
  },
};

/** The idle-policy and service-port options of `pool create` and `pool update`. */
export const idleOptions = {
  idleWarmAfter: option(
    integer(0, MAX_SLEEP_POLICY_SECS),
    'seconds an instance may be idle before it goes warm (paused); 0 = never (default)',
  ),
  idleSleepAfter: option(
    integer(0, MAX_SLEEP_POLICY_SECS),
    'seconds an instance may be idle before it goes to sleep (snapshotted), longer than --idle-warm-after; 0 = never (default)',
  ),
  servicePort: option(
    portList,
    "TCP ports the pool's service listens on (comma-separated, or none): a connection to one wakes a sleeping instance",
  ),
};

/** The request fields the idle options set. */
export function idleFields(opts: {
  idleWarmAfter?: number | undefined;
  idleSleepAfter?: number | undefined;
  servicePort?: number[] | undefined;
}): { idleWarmAfterSecs?: number; idleSleepAfterSecs?: number; servicePorts?: number[] } {
  return {
    ...(opts.idleWarmAfter !== undefined ? { idleWarmAfterSecs: opts.idleWarmAfter } : {}),
    ...(opts.idleSleepAfter !== undefined ? { idleSleepAfterSecs: opts.idleSleepAfter } : {}),
    ...(opts.servicePort !== undefined ? { servicePorts: opts.servicePort } : {}),
  };
}
