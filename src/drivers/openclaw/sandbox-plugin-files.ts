import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The OpenClaw sandbox plugin `mvm` in this repository (docs/openclaw.md, "The sandbox plugin"). */
export const SANDBOX_PLUGIN_SOURCES = fileURLToPath(
  new URL('../../../openclaw-plugin/', import.meta.url),
);

/**
 * Where the gateway image installs it: beside openclaw in the app's node_modules, so its
 * `openclaw/plugin-sdk/*` imports resolve to the pinned openclaw. openclaw.json loads it with
 * `plugins.load.paths`.
 */
export const SANDBOX_PLUGIN_DIR = '/opt/openclaw/node_modules/@mvm/openclaw-sandbox';

/** The plugin's files as image entries (path, bytes), sorted by name. */
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
