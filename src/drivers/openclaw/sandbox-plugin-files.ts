import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SANDBOX_PLUGIN_DIR } from '../../core/openclaw-config.ts';

/** The OpenClaw sandbox plugin `mvm` in this repository (docs/openclaw.md, "The sandbox plugin"). */
export const SANDBOX_PLUGIN_SOURCES = fileURLToPath(
  new URL('../../../openclaw-plugin/', import.meta.url),
);

/** The plugin's files as image entries under SANDBOX_PLUGIN_DIR (openclaw.json's load path). */
export async function sandboxPluginFiles(): Promise<Array<{ path: string; data: Buffer }>> {
  const names = (await readdir(SANDBOX_PLUGIN_SOURCES))
    .filter((n) => /\.(js|json)$/.test(n))
    .sort();
  return Promise.all(
    names.map(async (name) => ({
      path: `${SANDBOX_PLUGIN_DIR}/${name}`,
      data: await readFile(join(SANDBOX_PLUGIN_SOURCES, name)),
    })),
  );
}
