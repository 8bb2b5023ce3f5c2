import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/**
 * The shared objects a dynamically linked program loads, as absolute host paths, the ELF
 * interpreter included. Read from `ldd`, which asks the dynamic loader itself, so the list
 * follows the host's real search paths. vDSO lines carry no file and are skipped.
 */
export function parseLddOutput(output: string): string[] {
  const paths = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    if (line.includes('not found')) {
      throw new HostError(`a shared library is missing on this host: ${line}`);
    }
    const mapped = /=>\s*(\/\S+)/.exec(line);
    const direct = /^(\/\S+)/.exec(line);
    const path = mapped?.[1] ?? direct?.[1];
    if (path !== undefined) paths.add(path);
  }
  return [...paths].sort();
}

export async function sharedLibraries(runner: ProcessRunner, program: string): Promise<string[]> {
  const result = await runner.run('ldd', [program]).catch((error: unknown) => {
    throw new HostError(`could not list the libraries of ${program} with ldd: ${String(error)}`);
  });
  return parseLddOutput(result.stdout);
}
