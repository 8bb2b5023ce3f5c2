import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { ValidationError } from '../../core/errors.ts';
import { parseInstancePath, type InstanceRef } from '../../core/ids.ts';
import type { CommandContext } from '../command.ts';
import { startSession } from './start-session.ts';

/** One side of `mvm instance cp`: a local path, or a path in an instance. */
export type CopyEnd = { local: string } | { ref: InstanceRef; path: string };

export interface CopyResult {
  direction: 'into-instance' | 'from-instance';
  instance: string;
  remotePath: string;
  localPath: string;
  bytes: number;
  mode: string;
}

/** `tenant/pool/instance:/path` is in an instance; anything else is local (`./a:b` too). */
export function parseCopyEnd(word: string): CopyEnd {
  const at = word.indexOf(':');
  const head = at < 0 ? '' : word.slice(0, at);
  if (at < 0 || head.split('/').length !== 3 || head.startsWith('.')) return { local: word };
  const path = word.slice(at + 1);
  if (!path.startsWith('/')) {
    throw new ValidationError(
      `'${word}': the path in the instance must be absolute, like ${head}:/tmp/file`,
    );
  }
  return { ref: parseInstancePath(head), path };
}

/** Exactly one side in an instance, as `mvm instance cp SRC DST` needs. */
export function copyPlan(source: CopyEnd, destination: CopyEnd) {
  if ('ref' in source && 'local' in destination)
    return { get: { from: source, to: destination.local } };
  if ('local' in source && 'ref' in destination)
    return { put: { from: source.local, to: destination } };
  throw new ValidationError(
    "one side of 'mvm instance cp' must be in an instance (<tenant/pool/instance>:/path) and the other local",
  );
}

const label = (ref: InstanceRef) => `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/** A local regular file into the instance, keeping its permission bits; atomic there. */
export async function putFile(
  ctx: CommandContext,
  local: string,
  to: { ref: InstanceRef; path: string },
): Promise<CopyResult> {
  const info = await stat(local).catch(() => undefined);
  if (!info?.isFile())
    throw new ValidationError(`'${local}' is not a regular file; cp copies one file`);
  const path = to.path.endsWith('/') ? `${to.path}${basename(local)}` : to.path;
  const mode = info.mode & 0o7777;
  const terminal = ctx.terminal();
  const session = await startSession(
    ctx,
    to.ref,
    { kind: 'put', path, mode },
    { stdin: createReadStream(local), stdout: terminal.stdout, stderr: terminal.stderr },
  );
  const exit = await session.exit;
  return {
    direction: 'into-instance',
    instance: label(to.ref),
    remotePath: path,
    localPath: local,
    bytes: exit.bytes ?? 0,
    mode: octal(mode),
  };
}

/**
 * A file of the instance to a local path (into it when it is a directory), with the file's
 * permission bits; written beside it and renamed, so a failed copy leaves nothing half done.
 */
export async function getFile(
  ctx: CommandContext,
  from: { ref: InstanceRef; path: string },
  local: string,
): Promise<CopyResult> {
  const target = (await stat(local).catch(() => undefined))?.isDirectory()
    ? join(local, basename(from.path))
    : local;
  const temporary = join(dirname(target), `.${basename(target)}.mvm-cp-${process.pid}`);
  await (await open(temporary, 'wx', 0o600)).close();
  // Credit goes back as each write reaches the file: the copy runs at the disk's pace.
  const file = createWriteStream(temporary);
  try {
    const terminal = ctx.terminal();
    const session = await startSession(
      ctx,
      from.ref,
      { kind: 'get', path: from.path },
      { stdout: file, stderr: terminal.stderr },
    );
    const { mode = 0o644 } = await session.started;
    const exit = await session.exit;
    file.end();
    await finished(file);
    await chmod(temporary, mode & 0o7777);
    await rename(temporary, target);
    return {
      direction: 'from-instance',
      instance: label(from.ref),
      remotePath: from.path,
      localPath: target,
      bytes: exit.bytes ?? 0,
      mode: octal(mode),
    };
  } catch (error) {
    file.destroy();
    await rm(temporary, { force: true });
    throw error;
  }
}
