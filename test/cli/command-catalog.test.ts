/**
 * The compiled CLI builds its program from the catalog the build writes (command-catalog.json)
 * instead of the command modules. Every help screen must come out the same either way, and
 * every catalog entry must lead back to its full definition.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { catalogJson, loadCatalog, loadCommand, shapeOf } from '../../src/cli/command-catalog.ts';
import type { CommandShape } from '../../src/cli/command-catalog.ts';
import { allCommands } from '../../src/cli/commands/index.ts';
import { groupDescriptions } from '../../src/cli/commands/groups.ts';
import { buildProgram } from '../../src/cli/program.ts';

/** Every help screen of the program, by command path ('' for `mvm --help`). */
function helpScreens(commands: readonly CommandShape[]): Map<string, string> {
  const ignore = { write: () => undefined };
  const program = buildProgram({
    commands,
    groups: groupDescriptions,
    stdout: ignore,
    stderr: ignore,
    execute: () => Promise.reject(new Error('nothing runs here')),
  });
  const screens = new Map<string, string>();
  const visit = (command: Command, path: string): void => {
    screens.set(path, command.helpInformation());
    for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`.trim());
  };
  visit(program, '');
  return screens;
}

describe('command catalog', () => {
  it('gives the same help screens as the command definitions, for every command and group', async () => {
    const catalog = JSON.parse(await catalogJson()) as CommandShape[];
    const fromCatalog = helpScreens(catalog);
    const fromDefinitions = helpScreens(allCommands);
    expect(fromCatalog.size).toBeGreaterThan(allCommands.length);
    expect([...fromCatalog.keys()]).toEqual([...fromDefinitions.keys()]);
    for (const [path, screen] of fromDefinitions) expect(fromCatalog.get(path), path).toBe(screen);
    // The screens really show what the catalog carries: placeholders, flags, required marks.
    expect(fromCatalog.get('pool create')).toContain('--role <role>');
    expect(fromCatalog.get('completions')).toContain('mvm completions [options] <shell>');
    expect(fromCatalog.get('agent instance put')).toMatch(
      /--ip <ipv4> +guest address \(required\)/,
    );
  });

  it('is plain data: parsers and handlers stay behind', async () => {
    const catalog = JSON.parse(await catalogJson()) as CommandShape[];
    expect(catalog).toEqual(allCommands.map(shapeOf));
    for (const shape of catalog) {
      expect(Object.keys(shape).sort()).toEqual([
        'args',
        'description',
        'options',
        'output',
        'path',
      ]);
      for (const part of [...shape.args, ...shape.options])
        expect(Object.keys(part.spec ?? {})).not.toContain('parse');
    }
  });

  it('leads from every entry back to its full definition', async () => {
    const catalog = JSON.parse(await catalogJson()) as CommandShape[];
    for (const [i, shape] of catalog.entries())
      expect(await loadCommand(shape)).toBe(allCommands[i]);
    await expect(
      loadCommand({
        path: ['tenant', 'vanish'],
        description: '',
        args: [],
        options: [],
        output: 'data',
      }),
    ).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringContaining('npm run build'),
    });
  });

  it('from source (no catalog file) is the command definitions themselves', async () => {
    expect(await loadCatalog()).toBe(allCommands);
  });
});
