import { describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/cli/exit-codes.ts';
import { errorCodes, MvmError } from '../../src/core/errors.ts';
import type { ErrorCode } from '../../src/core/errors.ts';
import type { FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import { runIn } from './support/run-cli.ts';

const expected: Record<ErrorCode, number> = {
  internal: 1,
  invalid_argument: 2,
  payload_too_large: 2,
  unauthenticated: 3,
  permission_denied: 3,
  not_found: 4,
  already_exists: 5,
  conflict: 5,
  illegal_transition: 5,
  quota_exceeded: 6,
  unavailable: 7,
  store_unavailable: 7,
  host_failure: 8,
};

const answering =
  (code: string, status: number): FetchLike =>
  () =>
    Response.json({ error: { code, message: `coordinator said ${code}` } }, { status });

describe('exit codes', () => {
  it('covers every error code with its documented status', () => {
    expect(Object.keys(exitCodeOf).sort()).toEqual([...errorCodes].sort());
    expect(exitCodeOf).toEqual(expected);
  });

  it.each(Object.entries(expected))('a coordinator %s error exits %i', async (code, status) => {
    const run = await runIn(['tenant', 'list'], { fetch: answering(code, 400) });
    expect(run.code).toBe(status);
    expect(run.stderr).toBe(`error: coordinator said ${code}\n`);
    expect(run.stdout).toBe('');
  });

  it('an MvmError raised in transport keeps its code', async () => {
    const run = await runIn(['tenant', 'list'], {
      fetch: () => {
        throw new MvmError('host_failure', 'disk on fire');
      },
    });
    expect(run.code).toBe(8);
    expect(run.stderr).toBe('error: disk on fire\n');
  });

  it('success exits 0, help exits 0, usage errors exit 2', async () => {
    expect((await runIn(['tenant', 'list'], { fetch: () => Response.json([]) })).code).toBe(0);
    expect((await runIn(['--help'])).code).toBe(0);
    expect((await runIn(['tenant', 'create', 'x', '--help'])).code).toBe(0);
    expect((await runIn(['tenant'])).code).toBe(2);
    expect((await runIn(['tenant', 'frobnicate'])).code).toBe(2);
    expect((await runIn(['tenant', 'list', '--bogus'])).code).toBe(2);
    expect((await runIn([])).code).toBe(2);
  });
});
