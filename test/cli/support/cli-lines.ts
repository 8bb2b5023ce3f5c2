import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { readTextFile } from '../../../src/cli/config.ts';
import { startInProcessCoordinator } from './in-process-coordinator.ts';
import type { InProcessCoordinator } from './in-process-coordinator.ts';
import { runIn } from './run-cli.ts';
import type { CliRun } from './run-cli.ts';

export interface CliLines {
  /** Runs one `mvm …` command line against the coordinator. */
  mvm(line: string): Promise<CliRun>;
  /** Succeeds with nothing on stderr; its stdout. */
  ok(line: string): Promise<string>;
  /** Fails with nothing on stdout; its stderr. */
  fails(line: string): Promise<string>;
  /** Succeeds; its stdout parsed as JSON. */
  json<T>(line: string): Promise<T>;
}

/**
 * Command lines as a user types them, run in-process against an in-process coordinator (given
 * as a getter: tests start it in beforeAll), with no config file of the user's.
 */
export function cliLines(coordinator: () => InProcessCoordinator): CliLines {
  const mvm = (line: string): Promise<CliRun> => {
    const argv = line.split(' ').filter((word) => word !== '');
    if (argv[0] !== 'mvm') throw new Error(`not an mvm command line: ${line}`);
    const { dataDir, fetch } = coordinator();
    return runIn(argv.slice(1), {
      env: { MVM_DATA_DIR: dataDir },
      readText: readTextFile,
      defaultConfigFile: join(dataDir, 'no-config.json'),
      fetch,
    });
  };
  const ok = async (line: string): Promise<string> => {
    const run = await mvm(line);
    expect(run.stderr, line).toBe('');
    expect(run.code, line).toBe(0);
    return run.stdout;
  };
  const fails = async (line: string): Promise<string> => {
    const run = await mvm(line);
    expect(run.code, line).not.toBe(0);
    expect(run.stdout, line).toBe('');
    return run.stderr;
  };
  const json = async <T>(line: string): Promise<T> => JSON.parse(await ok(line)) as T;
  return { mvm, ok, fails, json };
}

/**
 * Command lines against one in-process coordinator on SQLite for the whole file (or the
 * `describe` it is called in): started before its tests, closed after them.
 */
export function cliForSuite(): CliLines {
  let coordinator: InProcessCoordinator | undefined;
  beforeAll(async () => {
    coordinator = await startInProcessCoordinator();
  });
  afterAll(async () => {
    await coordinator?.close();
  });
  return cliLines(() => {
    if (coordinator === undefined) throw new Error('no coordinator: run commands in the tests');
    return coordinator;
  });
}
