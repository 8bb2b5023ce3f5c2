/**
 * A mark write that failed (EIO; here a file where its directory goes) fails its caller only: the next
 * accepted document's write is tried and lands with the whole mark, so one bad fsync does not
 * leave every later document unacted on (the loop acts once the mark is durable).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DesiredMarkFile } from '../../src/agent/desired/desired-mark-file.ts';

describe('the desired mark file after a failed write', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('writes the next mark whole', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mvm-mark-'));
    dirs.push(root);
    const path = join(root, 'later', 'desired-mark.json');
    const marks = await DesiredMarkFile.open(path);
    await writeFile(join(root, 'later'), 'a file where the directory goes\n');
    const issuedAt = '2026-12-06T00:00:00.000Z';

    await expect(marks.accepted({ generation: 4, issuedAt })).rejects.toThrow();
    await rm(join(root, 'later'));
    await marks.accepted({ generation: 5, issuedAt });

    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      generation: 5,
      issuedAt,
      coordinatorGeneration: 0,
    });
  });
});
