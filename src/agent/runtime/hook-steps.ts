import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, errorMessage } from '../../core/errors.ts';
import { secretsChanged, type HookName } from '../../core/pool-hooks.ts';
import type { VmHandle } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { instanceDir } from './layout.ts';

/** How long a hook may run (the guest kills it then: exit 124). */
export const HOOK_TIMEOUT_MS = 60_000;
/** How much of a hook's output a refusal or a log line quotes. */
const OUTPUT_TAIL = 400;

/**
 * A sleep the pool's `beforeSleep` hook refused (a non-zero exit): like a busy drain, the
 * instance keeps running with this as its reason, and the node tries again on its next pass.
 */
export class SleepRefusedError extends ConflictError {}

export class HookRefusedError extends SleepRefusedError {
  constructor(key: string, argv: readonly string[], code: number, output: string) {
    super(
      `instance '${key}' keeps running: its beforeSleep hook (${argv.join(' ')}) exited ${code}${output ? `: ${output}` : ''}. Retry later, or force the sleep`,
      { key, hook: 'beforeSleep', code },
    );
  }
}

export interface HookResult {
  code: number;
  output: string;
}

/** Runs one hook in the guest to its end; its output is kept short (a tail of both streams). */
export async function runHook(
  deps: RuntimeDeps,
  vm: VmHandle,
  argv: readonly string[],
): Promise<HookResult> {
  const exec = await deps.guests.for(vm).exec({ argv: [...argv], timeoutMs: HOOK_TIMEOUT_MS });
  const [out, err] = await Promise.all([tail(exec.stdout), tail(exec.stderr)]);
  const exit = await exec.exit;
  return { code: exit.code, output: `${out}${err}`.trim().slice(-OUTPUT_TAIL) };
}

/**
 * Before the drain: a non-zero exit refuses the sleep (HookRefusedError), unless it is forced,
 * then it is logged and the sleep goes on.
 */
export async function beforeSleep(
  deps: RuntimeDeps,
  vm: VmHandle,
  argv: readonly string[] | undefined,
  force: boolean,
): Promise<void> {
  if (!argv) return;
  const result = await runHook(deps, vm, argv);
  deps.logger.info({ key: vm.key, hook: 'beforeSleep', code: result.code }, 'sleep hook ran');
  if (result.code === 0) return;
  const refused = new HookRefusedError(vm.key, argv, result.code, result.output);
  if (!force) throw refused;
  deps.logger.warn({ key: vm.key, why: refused.message }, 'forced sleep past its hook');
}

/**
 * After a wake: `secretsReload` when the secrets drive the guest woke with is not the one it
 * had (then the guest already remounted it), then `afterWake`. A failing hook is logged: the
 * instance is up either way. Returns the hooks that ran.
 */
export async function afterWake(
  deps: RuntimeDeps,
  record: VmRecord,
  vm: VmHandle,
  secretsDigest: string | undefined,
): Promise<HookName[]> {
  const previous = await readSecretsDigest(deps, record.key);
  if (secretsDigest !== previous) await noteSecretsDigest(deps, record.key, secretsDigest);
  const hooks = record.spec.hooks ?? {};
  const due: HookName[] = [];
  if (hooks.secretsReload && secretsChanged(previous, secretsDigest)) due.push('secretsReload');
  if (hooks.afterWake) due.push('afterWake');
  for (const name of due) {
    const argv = hooks[name] ?? [];
    const result = await runHook(deps, vm, argv).catch((error: unknown): HookResult => ({
      code: -1,
      output: errorMessage(error),
    }));
    const log = { key: record.key, hook: name, code: result.code, output: result.output };
    if (result.code === 0) deps.logger.info(log, 'wake hook ran');
    else deps.logger.warn(log, 'wake hook failed; the instance runs on');
  }
  return due;
}

/** The secrets drive's digest the guest holds now (its boot or last wake), kept beside the VM. */
export async function noteSecretsDigest(
  deps: RuntimeDeps,
  key: string,
  digest: string | undefined,
): Promise<void> {
  if (digest === undefined) return;
  await writeFile(digestFile(deps, key), `${digest}\n`, { mode: 0o600 });
}

async function readSecretsDigest(deps: RuntimeDeps, key: string): Promise<string | undefined> {
  const text = await readFile(digestFile(deps, key), 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

const digestFile = (deps: RuntimeDeps, key: string): string =>
  join(instanceDir(deps.layout, key), 'secrets.digest');

/** Reads a stream to its end, keeping only its last bytes. */
async function tail(stream: Readable): Promise<string> {
  let kept = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    kept = (kept + chunk.toString()).slice(-OUTPUT_TAIL);
  }
  return kept;
}
