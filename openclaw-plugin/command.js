// The command OpenClaw runs for each remote shell command of a sandbox (docs/openclaw.md,
// "The sandbox plugin"): mvm's guest command, which asks the gateway's host agent over the
// guest channel to run it in a worker of the same tenant. No OpenClaw import: pure.
import { createHash } from 'node:crypto';
import process from 'node:process';

/** On mvm's init drive, mounted read-only at /mvm in every guest. */
export const MVM_WORKER_COMMAND = '/mvm/bin/mvm-worker';

const KEY_CHARS = /[^A-Za-z0-9._:@+=/-]/g;

/**
 * The worker key for a sandbox scope key (OpenClaw's session key under scope `session`): one
 * worker per session, so every command of a session finds its workspace where the backend
 * seeded it. Characters mvm's key does not take become `_`; a key longer than mvm's 128
 * characters keeps its head and a hash of the whole, so distinct keys stay distinct.
 */
export function workerKeyOf(scopeKey) {
  const raw = typeof scopeKey === 'string' && scopeKey.length > 0 ? scopeKey : 'default';
  const clean = raw.replace(KEY_CHARS, '_');
  if (clean.length <= 128 && clean === raw) return clean;
  const digest = createHash('sha256').update(raw).digest('hex').slice(0, 16);
  return `${clean.slice(0, 111)}.${digest}`;
}

/**
 * OpenClaw's `buildCommand({ remoteCommand, tty })` for the mvm backend: the local argv that
 * runs `remoteCommand` with /bin/sh in the session's worker. `tty` is not carried: mvm-worker
 * pipes stdin and output (OpenClaw's local transport pipes them too).
 */
export function buildWorkerCommand({
  remoteCommand,
  workerKey,
  command = MVM_WORKER_COMMAND,
  env,
}) {
  return {
    argv: [command, 'exec', '--worker', workerKey, '--', '/bin/sh', '-c', remoteCommand],
    env: env ?? process.env,
  };
}
