import { describe, expect, it } from 'vitest';
import { detectUnderlayIp } from '../../src/agent/join/underlay-address.ts';
import { HostError } from '../../src/core/errors.ts';
import type { ProcessRunner, RunResult } from '../../src/ports/process-runner.ts';

/** A runner whose `ip` answers with `result`, or fails to start when given an error. */
function runnerAnswering(result: RunResult | Error): ProcessRunner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run: async (command, args) => {
      calls.push([command, ...args]);
      if (result instanceof Error) throw result;
      return result;
    },
    spawn: () => {
      throw new Error('not used');
    },
  };
}

describe('detectUnderlayIp', () => {
  it('takes the source address of the route to the coordinator', async () => {
    const runner = runnerAnswering({
      exitCode: 0,
      stdout: JSON.stringify([{ dst: '192.0.2.1', dev: 'eth0', prefsrc: '192.0.2.17' }]),
      stderr: '',
    });
    expect(await detectUnderlayIp('https://192.0.2.1:8443', runner)).toEqual({ ip: '192.0.2.17' });
    expect(runner.calls).toEqual([['ip', '-j', 'route', 'get', '192.0.2.1']]);
  });

  it('refuses the guess, without throwing, when ip cannot be run', async () => {
    const runner = runnerAnswering(new HostError("could not run 'ip': spawn ip ENOENT"));
    const guess = await detectUnderlayIp('https://192.0.2.1:8443', runner);
    expect(guess.ip).toBeUndefined();
    expect('why' in guess ? guess.why : '').toMatch(/192\.0\.2\.1.*spawn ip ENOENT/);
  });

  it('refuses a route without a source or from the loopback', async () => {
    const failed = runnerAnswering({ exitCode: 2, stdout: '', stderr: 'Network is unreachable' });
    const unreachable = await detectUnderlayIp('https://192.0.2.1:8443', failed);
    expect('why' in unreachable ? unreachable.why : '').toMatch(/Network is unreachable/);
    const loopback = runnerAnswering({
      exitCode: 0,
      stdout: JSON.stringify([{ dst: '127.0.0.1', dev: 'lo', prefsrc: '127.0.0.1' }]),
      stderr: '',
    });
    const local = await detectUnderlayIp('http://127.0.0.1:8443', loopback);
    expect(local.ip).toBeUndefined();
  });
});
