import { readFile } from 'node:fs/promises';

/**
 * The last lines QEMU itself wrote, for error messages. The `--- <time> <command line>` header
 * each launch appends is left out: it is in the log file, and it would bury QEMU's one-line
 * reason in messages.
 */
export async function logTail(path: string, lines = 5): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const said = text
    .trim()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('--- '));
  return `${said.slice(-lines).join(' | ') || '(no output)'} (log: ${path})`;
}
