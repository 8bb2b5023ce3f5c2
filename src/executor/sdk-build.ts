import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { renameMemoryImport } from '../core/jobs/memory-import.ts';

/**
 * Compiles an AssemblyScript job (examples/jobs/assembly/*.ts) into an ABI v1 module: imported
 * memory renamed to `mvm.memory` with a declared maximum, the stub runtime, no `env.abort`.
 * Needs the `assemblyscript` devDependency; the setup step and the tests call it.
 */
export async function buildJobModule(entry: string, outDir: string, maxPages = 16) {
  const { main } = await import('assemblyscript/asc');
  const raw = join(outDir, `${basename(entry, '.ts')}.raw.wasm`);
  await mkdir(outDir, { recursive: true });
  const { error, stderr } = await main([
    entry,
    '--outFile',
    raw,
    '--optimize',
    '--runtime',
    'stub',
    '--use',
    'abort=',
    '--importMemory',
    '--maximumMemory',
    String(maxPages),
    '--initialMemory',
    '1',
  ]);
  if (error) throw new Error(`asc ${entry}: ${error.message}\n${stderr.toString()}`);
  const out = join(outDir, `${basename(entry, '.ts')}.wasm`);
  await writeFile(out, renameMemoryImport(new Uint8Array(await readFile(raw))));
  return out;
}

/** `tsx src/executor/sdk-build.ts OUTDIR ENTRY…` (scripts/setup.sh builds the examples). */
if (process.argv[1] !== undefined && basename(process.argv[1]) === 'sdk-build.ts') {
  const [outDir, ...entries] = process.argv.slice(2);
  for (const entry of entries) {
    const built = await buildJobModule(entry, outDir ?? dirname(entry));
    process.stdout.write(`${built}\n`);
  }
}
