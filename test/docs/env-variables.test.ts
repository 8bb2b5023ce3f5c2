/**
 * DEVELOPERS.md's "Environment variables" table is the one list of MVM_* variables. This keeps
 * it from rotting: every variable named anywhere in the tree's code must have a row, and every
 * row must name a variable something still reads.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCANNED = ['src', 'test', 'bench', 'scripts', 'images'];
const NAME = /\bMVM_[A-Z][A-Z0-9_]*\b/g;
/** Code constants that merely share the prefix (`const MVM_VERSION = ...`), not variables. */
const CONSTANT = /\bconst\s+(MVM_[A-Z][A-Z0-9_]*)\s*=/g;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? filesUnder(path) : Promise.resolve([path]);
    }),
  );
  return nested.flat();
}

async function namesInCode(): Promise<Map<string, string>> {
  const files = (await Promise.all(SCANNED.map((dir) => filesUnder(join(ROOT, dir))))).flat();
  const found = new Map<string, string>();
  const constants = new Set<string>();
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(CONSTANT)) constants.add(match[1] ?? '');
    for (const [name] of text.matchAll(NAME)) {
      if (!found.has(name)) found.set(name, file.slice(ROOT.length + 1));
    }
  }
  for (const name of constants) found.delete(name);
  return found;
}

/** The rows of the table under "## Environment variables": one variable each, four cells. */
async function tableRows(): Promise<Array<{ name: string; cells: string[] }>> {
  const text = await readFile(join(ROOT, 'DEVELOPERS.md'), 'utf8');
  const section = text.split(/^## /m).find((part) => part.startsWith('Environment variables'));
  expect(section, 'DEVELOPERS.md has an "Environment variables" section').toBeDefined();
  return (section ?? '')
    .split('\n')
    .filter((line) => line.startsWith('| `MVM_'))
    .map((line) => {
      const cells = line.split(' | ').map((cell) => cell.replace(/^\|?\s*|\s*\|?$/g, ''));
      return { name: (cells[0] ?? '').replace(/`/g, ''), cells };
    });
}

it('documents every MVM_* variable the code reads, and only those, in one table', async () => {
  const inCode = await namesInCode();
  const rows = await tableRows();
  const documented = new Set(rows.map((row) => row.name));
  const missing = [...inCode].filter(([name]) => !documented.has(name));
  expect(
    missing.map(([name, file]) => `${name} (read in ${file})`),
    'add a row to DEVELOPERS.md "Environment variables" for each',
  ).toEqual([]);
  const stale = [...documented].filter((name) => !inCode.has(name));
  expect(stale, 'rows naming variables nothing reads any more').toEqual([]);
  expect(rows.length).toBe(documented.size);
});

it('gives every variable who reads it, its default and its meaning', async () => {
  for (const row of await tableRows()) {
    expect(row.cells, row.name).toHaveLength(4);
    expect(
      row.cells.every((cell) => cell.trim() !== ''),
      `${row.name}: empty cell`,
    ).toBe(true);
  }
});
