import { errorMessage } from '../../core/errors.ts';
import { lookup } from 'node:dns/promises';
import { isIpv4, isUnicastIpv4 } from '../../core/ipv4.ts';
import type { ProcessRunner, RunResult } from '../../ports/process-runner.ts';

export type UnderlayGuess = { ip: string } | { ip: undefined; why: string };

/** The source address in `ip -j route get` output, if the route names one. */
export function prefsrcOf(json: unknown): string | undefined {
  if (!Array.isArray(json)) return undefined;
  const first: unknown = json[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const prefsrc = (first as Record<string, unknown>)['prefsrc'];
  return typeof prefsrc === 'string' ? prefsrc : undefined;
}

async function coordinatorAddress(coordinatorUrl: string): Promise<string> {
  const host = new URL(coordinatorUrl).hostname;
  if (isIpv4(host)) return host;
  return (await lookup(host, { family: 4 })).address;
}

/**
 * This host's underlay address, guessed as the source the kernel would pick to reach the
 * coordinator: other nodes most likely reach this one the same way. A coordinator on the
 * loopback says nothing about that, so the guess is refused rather than stored.
 */
export async function detectUnderlayIp(
  coordinatorUrl: string,
  runner: ProcessRunner,
): Promise<UnderlayGuess> {
  let target: string;
  try {
    target = await coordinatorAddress(coordinatorUrl);
  } catch (error) {
    const why = errorMessage(error);
    return { ip: undefined, why: `the coordinator's IPv4 address is unknown (${why})` };
  }
  let route: RunResult;
  try {
    route = await runner.run('ip', ['-j', 'route', 'get', target], { check: false });
  } catch (error) {
    // No `ip` to ask (or it died): a guess refused like any other, not a failed join.
    const why = errorMessage(error);
    return { ip: undefined, why: `the route to the coordinator at ${target} is unknown (${why})` };
  }
  let source: string | undefined;
  try {
    source = route.exitCode === 0 ? prefsrcOf(JSON.parse(route.stdout)) : undefined;
  } catch {
    source = undefined;
  }
  if (source === undefined) {
    const detail = route.stderr.trim() || 'no source address in the route';
    return { ip: undefined, why: `no route to the coordinator at ${target} (${detail})` };
  }
  if (!isUnicastIpv4(source)) {
    return { ip: undefined, why: `the coordinator is reached from ${source}, not a node address` };
  }
  return { ip: source };
}
