/** Host-side observations of the fleet: VMM processes, their namespaces, convergence. */
import { errorMessage } from '../../../src/core/errors.ts';
import { readdir, readFile } from 'node:fs/promises';
import type { InstanceView } from '../../../src/contract/resources.ts';
import type { ApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import { runner } from '../../net/support/net-lab.ts';

/** Live QEMU processes whose command line points into `<dataDir>/vms/<key>/` (zombies excluded). */
export async function vmmPids(dataDir: string, key = ''): Promise<number[]> {
  const found: number[] = [];
  const marker = `${dataDir}/vms/${key}`;
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!/qemu-system/.test(argv[0] ?? '')) continue;
    if (argv.some((arg) => arg.includes(marker))) found.push(pid);
  }
  return found.sort((a, b) => a - b);
}

/** The named network namespace a process lives in ('' for none, e.g. the root one). */
export async function netnsOf(pid: number): Promise<string> {
  const result = await runner.run('ip', ['netns', 'identify', String(pid)], { check: false });
  return result.stdout.trim();
}

export const describeInstances = (list: readonly InstanceView[]): string =>
  list
    .map(
      (i) =>
        `${i.id}@${i.nodeId ?? '-'} ${i.status}/${i.desiredStatus}${i.failureReason ? ` (${i.failureReason})` : ''}`,
    )
    .join('; ') || '(none)';

/**
 * Polls the coordinator's instance list until `done` holds; on timeout the error names what
 * did not converge and the last list seen.
 */
export async function converge(
  api: ApiClient,
  tenant: string,
  what: string,
  done: (list: InstanceView[]) => boolean,
  timeoutMs = 60_000,
): Promise<InstanceView[]> {
  let last: InstanceView[] = [];
  try {
    return await waitUntil(
      async () => {
        last = await api.call('listInstances', { query: { tenant } });
        return done(last) ? last : undefined;
      },
      { clock: systemClock, timeoutMs, intervalMs: 250, what },
    );
  } catch (error) {
    const why = errorMessage(error);
    throw new Error(`${what} did not converge: ${why}; last seen: ${describeInstances(last)}`);
  }
}
