/** Reads ext4 images back without mounting them, for the drive tests. */
import { existsSync } from 'node:fs';
import type { ProcessRunner } from '../../../src/ports/process-runner.ts';

const SBIN_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** Full path of an e2fsprogs tool; /usr/sbin is not on every PATH. */
export function e2fsTool(name: string): string | undefined {
  return SBIN_DIRS.map((dir) => `${dir}/${name}`).find((path) => existsSync(path));
}

export function missingE2fsTools(): string | undefined {
  const missing = ['mkfs.ext4', 'debugfs', 'dumpe2fs'].filter((tool) => !e2fsTool(tool));
  return missing.length === 0 ? undefined : `e2fsprogs tools not found: ${missing.join(', ')}`;
}

function tool(name: string): string {
  const path = e2fsTool(name);
  if (path === undefined) throw new Error(`${name} not found`);
  return path;
}

/** Contents of `/name` in the image, or undefined when the file is not there. */
export async function catFile(
  runner: ProcessRunner,
  image: string,
  name: string,
): Promise<string | undefined> {
  const result = await runner.run(tool('debugfs'), ['-R', `cat /${name}`, image]);
  if (result.stderr.includes('File not found')) return undefined;
  return result.stdout;
}

export async function fileMode(
  runner: ProcessRunner,
  image: string,
  name: string,
): Promise<string> {
  const result = await runner.run(tool('debugfs'), ['-R', `stat /${name}`, image]);
  const match = /Mode:\s+(\d+)/.exec(result.stdout);
  if (!match?.[1]) throw new Error(`no mode for /${name} in ${image}: ${result.stderr}`);
  return match[1];
}

export async function listNames(runner: ProcessRunner, image: string): Promise<string[]> {
  const result = await runner.run(tool('debugfs'), ['-R', 'ls -p /', image]);
  // `ls -p` prints /inode/mode/uid/gid/name/size/ per entry.
  const names = result.stdout.split('\n').map((line) => line.split('/')[5] ?? '');
  return names.filter((name) => name !== '' && name !== '.' && name !== '..');
}

/** Copies a host file into the image, as a guest writing to its disk would. */
export async function writeFileInto(
  runner: ProcessRunner,
  image: string,
  hostPath: string,
  name: string,
): Promise<void> {
  await runner.run(tool('debugfs'), ['-w', '-R', `write ${hostPath} ${name}`, image]);
}

export async function labelOf(runner: ProcessRunner, image: string): Promise<string> {
  const result = await runner.run(tool('dumpe2fs'), ['-h', image]);
  const match = /^Filesystem volume name:\s*(\S*)$/m.exec(result.stdout);
  return match?.[1] ?? '';
}

export async function fsckClean(runner: ProcessRunner, image: string): Promise<boolean> {
  const e2fsck = tool('e2fsck');
  const result = await runner.run(e2fsck, ['-fn', image], { check: false });
  return result.exitCode === 0;
}
