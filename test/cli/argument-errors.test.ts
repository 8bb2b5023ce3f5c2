import { describe, expect, it } from 'vitest';
import { runIn } from './support/run-cli.ts';

/** Every case must fail before any request: runIn's default fetch fails the test if called. */
describe('argument errors exit 2 and send nothing', () => {
  it.each([
    [['tenant', 'create', 'Smoke_Test'], "tenant id 'Smoke_Test' is invalid"],
    [['tenant', 'create', 'ok', '--max-vcpus', '8x'], "--max-vcpus '8x' is not a whole number"],
    [['tenant', 'create', 'ok', '--net-id', '-1'], "--net-id '-1' is not a whole number"],
    [
      [
        'pool',
        'create',
        'smoke-test/workers',
        '--flake',
        '.',
        '--profile',
        'minimal',
        '--cpus',
        '2x',
        '--mem',
        '1024',
      ],
      "--cpus '2x' is not a whole number",
    ],
    [
      [
        'pool',
        'create',
        'smoke-test',
        '--flake',
        '.',
        '--profile',
        'm',
        '--cpus',
        '2',
        '--mem',
        '1',
      ],
      "pool path 'smoke-test' must look like <tenant>/<pool>",
    ],
    [
      [
        'pool',
        'create',
        'a/b',
        '--flake',
        '.',
        '--profile',
        'm',
        '--cpus',
        '2',
        '--mem',
        '1',
        '--role',
        'boss',
      ],
      "--role 'boss' is not one of",
    ],
    [['pool', 'scale', 'a/b', '--running', '1.5'], "--running '1.5' is not a whole number"],
    [['pool', 'scale', 'a/b'], 'nothing to change'],
    [['instance', 'start', 'a/b'], "instance path 'a/b' must look like <tenant>/<pool>/<instance>"],
    [['instance', 'list', '--tenant', '-x-'], "tenant id '-x-' is invalid"],
    [['events', '--last', '0'], '--last 0 is out of range'],
    [['tenant', 'update', 'a'], 'nothing to change'],
    [['tenant', 'token', 'create', 'a'], 'missing --name'],
    [['tenant', 'destroy'], "missing required argument 'tenant'"],
    [['tenant', 'list', 'extra'], 'too many arguments'],
  ])('mvm %j', async (argv, message) => {
    const run = await runIn(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it('reports every bad flag of one command line together', async () => {
    const run = await runIn([
      'pool',
      'create',
      'A/b',
      '--cpus',
      'two',
      '--mem',
      '1e3',
      '--data-disk',
      '0x10',
    ]);
    expect(run.code).toBe(2);
    const problems = run.stderr.split('\n').filter((line) => line.startsWith('  - '));
    expect(problems).toEqual([
      expect.stringContaining("tenant id 'A' is invalid"),
      expect.stringContaining("--cpus 'two'"),
      expect.stringContaining("--mem '1e3'"),
      expect.stringContaining("--data-disk '0x10'"),
    ]);
  });

  it('prints argument errors as JSON on stderr under --json', async () => {
    const run = await runIn(['tenant', 'info', 'Nope', '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'invalid_argument' } });
  });

  it('reports config problems before any request', async () => {
    const run = await runIn(['tenant', 'list'], { env: { MVM_COORDINATOR_URL: 'not a url' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("coordinatorUrl 'not a url' (from env MVM_COORDINATOR_URL)");
  });
});
