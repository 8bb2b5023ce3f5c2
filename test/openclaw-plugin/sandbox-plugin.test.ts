/**
 * The OpenClaw sandbox plugin (openclaw-plugin/, docs/openclaw.md "The sandbox plugin"), loaded
 * for real: the pinned node and openclaw from npm (the toolchain `mvm new openclaw` uses,
 * cached in the image cache), the plugin copied beside them as an installed package. It
 * registers the backend `mvm` through OpenClaw's own SDK, and OpenClaw's remote-shell backend
 * then drives every command (the workspace bootstrap with its tar upload, the command itself)
 * through the plugin's buildCommand: `mvm-worker exec --worker <session key> -- /bin/sh -c …`.
 * Here a host script stands in for mvm-worker (it records its argv and runs the command on
 * the host); the real mvm-worker in a gateway guest is test/e2e/worker-exec-qemu.test.ts.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateOpenclawConfig } from '../../src/cli/onboarding/openclaw-gateway.ts';
import { openclawConfigText } from '../../src/core/openclaw-config.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { ensureToolchain, type Toolchain } from '../../src/drivers/openclaw/toolchain.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

const runner = new NodeProcessRunner();
const PLUGIN = fileURLToPath(new URL('../../openclaw-plugin/', import.meta.url));
const PROBE = fileURLToPath(new URL('./sandbox-probe.mjs', import.meta.url));

async function toolchainOrSkip(): Promise<Toolchain | undefined> {
  const cacheDir = process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR;
  try {
    return await ensureToolchain(runner, cacheDir);
  } catch (error) {
    const where = process.env['CI'] ? 'CI requires it' : 'SKIPPING';
    console.warn(
      `\n!!! openclaw sandbox plugin: no pinned node/openclaw (${String(error)}); ${where}\n`,
    );
    if (process.env['CI']) throw error;
    return undefined;
  }
}

const toolchain = await toolchainOrSkip();

const FAKE_WORKER = `#!/bin/sh
printf '%s\\0' "$@" >> "$FAKE_WORKER_LOG"; printf '\\036' >> "$FAKE_WORKER_LOG"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done; shift
exec "$@"
`;

describe.runIf(toolchain)('the mvm sandbox plugin in the pinned openclaw', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-sandbox-plugin-'));
    const modules = join(dir, 'node_modules');
    await mkdir(join(modules, '@mvm'), { recursive: true });
    const openclaw = dirname(toolchain?.openclawMain ?? '');
    await symlink(openclaw, join(modules, 'openclaw'));
    await cp(PLUGIN, join(modules, '@mvm', 'openclaw-sandbox'), { recursive: true });
    await cp(PROBE, join(dir, 'probe.mjs'));
    await writeFile(join(dir, 'fake-worker.sh'), FAKE_WORKER, { mode: 0o755 });
    await mkdir(join(dir, 'workspace'));
    await writeFile(join(dir, 'workspace', 'NOTES.md'), 'seeded into the worker\n');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers backend mvm, whose buildCommand runs every command through mvm-worker exec', async () => {
    const log = join(dir, 'argv.log');
    const fake = join(dir, 'fake-worker.sh');
    const root = join(dir, 'sandboxes');
    const probe = await runner.run(
      toolchain?.node ?? 'node',
      [join(dir, 'probe.mjs'), fake, root, join(dir, 'workspace')],
      { cwd: dir, env: { ...process.env, FAKE_WORKER_LOG: log }, timeoutMs: 300_000 },
    );
    const out = JSON.parse(probe.stdout.trim().split('\n').pop() ?? '{}') as Record<
      string,
      unknown
    >;
    expect(out['before']).toBe(false);
    expect(out['id']).toBe('mvm');
    expect(out['registered']).toEqual({
      factory: 'function',
      manager: 'function',
      workdir: 'function',
    });
    expect(out['backend']).toMatchObject({ id: 'mvm' });
    expect(String((out['backend'] as { workdir: string }).workdir)).toMatch(
      new RegExp(`^${root}/openclaw-ssh-agent-main-main-[0-9a-f]+/workspace$`),
    );
    expect(out['ran']).toEqual({ stdout: 'ran-in-worker\n', code: 0 });
    expect(out['afterDisable']).toBe(false);

    // Every command OpenClaw ran went through the plugin's argv, the session's key first.
    const calls = (await readFile(log, 'utf8'))
      .split('\x1e')
      .filter((line) => line.length > 0)
      .map((line) => line.split('\0').slice(0, -1));
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const argv of calls) {
      expect(argv.slice(0, 6)).toEqual([
        'exec',
        '--worker',
        'agent:main:main',
        '--',
        '/bin/sh',
        '-c',
      ]);
    }
    expect(calls.some((argv) => argv.join(' ').includes('tar -xf -'))).toBe(true);
    expect(calls.at(-1)?.join(' ')).toContain('echo ran-in-worker');
    // The workspace was seeded through the same command (tar over its stdin).
    const seeded = (out['backend'] as { workdir: string }).workdir;
    expect(await readFile(join(seeded, 'NOTES.md'), 'utf8')).toBe('seeded into the worker\n');

    expect(out['defaultCommand']).toEqual({
      argv: ['/mvm/bin/mvm-worker', 'exec', '--worker', 'k', '--', '/bin/sh', '-c', 'id'],
      env: {},
    });
    const keys = out['keys'] as string[];
    expect(keys.slice(0, 2)).toEqual(['agent:main:main', 'default']);
    expect(keys[2]).toMatch(/^a_b\.[0-9a-f]{16}$/);
    expect(keys[3]?.length).toBeLessThanOrEqual(128);
  }, 360_000);

  it("mvm new openclaw --worker-sandbox's openclaw.json passes the pinned openclaw's validation", async () => {
    const text = openclawConfigText({ sleeps: false, allowedOrigins: [], workerSandbox: true });
    // The load path is the image's; on this host it is absent, which OpenClaw only warns about.
    await expect(
      validateOpenclawConfig(runner, toolchain as Toolchain, text),
    ).resolves.toBeUndefined();
    const broken = text.replace('"scope": "session"', '"scope": "per-galaxy"');
    await expect(validateOpenclawConfig(runner, toolchain as Toolchain, broken)).rejects.toThrow();
  }, 300_000);
});
