import type { FetchLike } from '../../../src/drivers/coordinator-api/api-client.ts';
import type { CliIo } from '../../../src/cli/main.ts';
import { runCli } from '../../../src/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fetch that fails the test if the CLI ever sends a request. */
export const noRequests: FetchLike = (request) => {
  throw new Error(`unexpected request: ${request.method} ${request.url}`);
};

/** Files the CLI may read, by path; nothing on the real disk is consulted. */
export function filesReader(
  files: Record<string, string> = {},
): (path: string) => string | undefined {
  return (path) => files[path];
}

export async function runIn(argv: readonly string[], io: Partial<CliIo> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: {},
    readText: filesReader(),
    fetch: noRequests,
    untilShutdown: () => Promise.resolve('SIGTERM'),
    ...io,
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
  });
  return { code, stdout, stderr };
}
