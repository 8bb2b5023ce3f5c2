import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostError, ValidationError } from '../../core/errors.ts';
import {
  CUSTOM_PROVIDER_KEY_SECRET,
  GATEWAY_TOKEN_SECRET,
  OPENCLAW_CONFIG_FILE,
  OPENCLAW_PORT,
} from '../../core/openclaw-config.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Toolchain } from '../../drivers/openclaw/toolchain.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/**
 * The OpenClaw-specific steps of `mvm new openclaw`: validating openclaw.json with the pinned
 * OpenClaw before it ships, the gateway token and provider key as mvm secrets, the config on
 * the gateway pool's config drive, and the readiness probe of /startupz inside the gateway.
 */

/** `openclaw config validate --json` of `text`, with the toolchain's node, on this host. */
export async function validateOpenclawConfig(
  runner: ProcessRunner,
  toolchain: Pick<Toolchain, 'node' | 'openclawMain'>,
  text: string,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-openclaw-validate-'));
  try {
    const path = join(dir, OPENCLAW_CONFIG_FILE);
    await writeFile(path, text, { mode: 0o600 });
    const env = {
      PATH: '/usr/bin:/bin',
      HOME: dir,
      OPENCLAW_STATE_DIR: join(dir, 'state'),
      OPENCLAW_CONFIG_PATH: path,
      OPENCLAW_NO_AUTO_UPDATE: '1',
      OPENCLAW_DISABLE_BONJOUR: '1',
    };
    // `env -i`: nothing of the caller's environment (NODE_OPTIONS hooks, a test runner's
    // variables OpenClaw reacts to) reaches the pinned node.
    const result = await runner.run(
      'env',
      [
        '-i',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        toolchain.node,
        toolchain.openclawMain,
        'config',
        'validate',
        '--json',
      ],
      { check: false, timeoutMs: 120_000 },
    );
    const answer = parseValidation(result.stdout);
    if (result.exitCode === 0 && answer?.valid === true) return;
    const issues = answer?.issues?.map((i) => `${i.path}: ${i.message}`) ?? [
      result.stderr.trim().slice(-400) || `exit ${result.exitCode}`,
    ];
    throw new ValidationError('openclaw config validate refused openclaw.json', issues);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Validation {
  valid?: boolean;
  issues?: Array<{ path: string; message: string }>;
}

function parseValidation(stdout: string): Validation | undefined {
  const start = stdout.indexOf('{');
  if (start < 0) return undefined;
  try {
    return JSON.parse(stdout.slice(start)) as Validation;
  } catch {
    return undefined;
  }
}

export interface SecretsOutcome {
  /** Set only when this run generated the token: shown once, never stored here. */
  generatedToken?: string;
  set: string[];
  kept: string[];
}

/**
 * The gateway token (generated when neither given nor set) and the custom provider's key
 * (given in a file, else kept, else 'none' for a keyless local provider), as tenant secrets.
 */
export async function ensureOpenclawSecrets(
  api: ApiClient,
  tenant: string,
  options: { tokenFile?: string; providerKeyFile?: string; customProvider: boolean },
): Promise<SecretsOutcome> {
  const existing = new Set(
    (await api.call('listSecrets', { params: { tenant }, query: {} }))
      .filter((s) => s.pool === null)
      .map((s) => s.name),
  );
  const values: Record<string, string> = {};
  const outcome: SecretsOutcome = { set: [], kept: [] };
  if (options.tokenFile !== undefined) {
    values[GATEWAY_TOKEN_SECRET] = (await readFile(options.tokenFile, 'utf8')).trim();
  } else if (!existing.has(GATEWAY_TOKEN_SECRET)) {
    outcome.generatedToken = randomBytes(24).toString('hex');
    values[GATEWAY_TOKEN_SECRET] = outcome.generatedToken;
  } else outcome.kept.push(GATEWAY_TOKEN_SECRET);
  if (options.customProvider) {
    if (options.providerKeyFile !== undefined) {
      values[CUSTOM_PROVIDER_KEY_SECRET] = (await readFile(options.providerKeyFile, 'utf8')).trim();
    } else if (!existing.has(CUSTOM_PROVIDER_KEY_SECRET)) {
      values[CUSTOM_PROVIDER_KEY_SECRET] = 'none';
    } else outcome.kept.push(CUSTOM_PROVIDER_KEY_SECRET);
  }
  if (Object.keys(values).length > 0) {
    await api.call('setSecrets', { params: { tenant }, body: { values } });
    outcome.set.push(...Object.keys(values).sort());
  }
  return outcome;
}

export async function shipOpenclawConfig(
  api: ApiClient,
  tenant: string,
  pool: string,
  text: string,
): Promise<void> {
  await api.call('setPoolConfig', {
    params: { tenant, pool },
    body: { files: { [OPENCLAW_CONFIG_FILE]: text } },
  });
}

/** The probe run inside the gateway: mvm's own busybox, so it costs no Node start. */
export const STARTUPZ_PROBE = [
  '/mvm/bin/wget',
  '-qO-',
  '-T',
  '5',
  `http://127.0.0.1:${OPENCLAW_PORT}/startupz`,
];

/** True once the probe's answer says the gateway started. */
export function startupzReady(exitCode: number, stdout: string): boolean {
  if (exitCode !== 0) return false;
  try {
    const body = JSON.parse(stdout) as { ready?: unknown; status?: unknown };
    return body.status === 'started' || body.ready === true;
  } catch {
    return false;
  }
}

/** Polls `probe` (an exec of STARTUPZ_PROBE) until ready or `timeoutMs` pass. */
export async function waitForStartupz(
  probe: () => Promise<{ code: number; stdout: string }>,
  timeoutMs: number,
  print: (line: string) => void,
  sleep: (ms: number) => Promise<void>,
): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const answer = await probe().catch((error: unknown) => ({ code: -1, stdout: String(error) }));
    if (startupzReady(answer.code, answer.stdout)) return Date.now() - started;
    const now = answer.code === -1 ? answer.stdout.slice(0, 120) : 'not answering yet';
    if (now !== last) print(`gateway  /startupz: ${now}`);
    last = now;
    if (Date.now() - started > timeoutMs) {
      throw new HostError(
        `the gateway did not answer /startupz within ${Math.round(timeoutMs / 1000)} s; see 'mvm instance logs'`,
      );
    }
    await sleep(3000);
  }
}
