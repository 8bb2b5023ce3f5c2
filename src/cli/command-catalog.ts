import { readFile } from 'node:fs/promises';
import { InternalError } from '../core/errors.ts';
import type { CliCommand } from './command.ts';

/**
 * What the commander program (and so every `--help`) needs of a command: everything but its
 * parsers and handler, as plain JSON. The build writes the catalog of all commands beside the
 * compiled CLI, so `mvm --help` and `mvm --version` build the program without loading a single
 * command module (nor zod, the API client and the drivers behind them); a command's module is
 * loaded only to run it. From source there is no catalog and the commands themselves serve.
 */
export interface SpecShape {
  placeholder: string;
  choices?: readonly string[];
}

export interface CommandShape {
  path: readonly string[];
  description: string;
  args: ReadonlyArray<{
    name: string;
    description: string;
    optional?: boolean;
    variadic?: boolean;
    spec: SpecShape;
  }>;
  options: ReadonlyArray<{
    name: string;
    flag: string;
    description: string;
    spec?: SpecShape;
    required?: boolean;
    negatable?: boolean;
    repeatable?: boolean;
  }>;
  output: 'data' | 'text';
}

export const CATALOG_FILE = new URL('./command-catalog.json', import.meta.url);

function specShape(spec: SpecShape): SpecShape {
  return {
    placeholder: spec.placeholder,
    ...(spec.choices === undefined ? {} : { choices: [...spec.choices] }),
  };
}

export function shapeOf(command: CommandShape): CommandShape {
  return {
    path: [...command.path],
    description: command.description,
    args: command.args.map((arg) => ({
      name: arg.name,
      description: arg.description,
      ...(arg.optional === undefined ? {} : { optional: arg.optional }),
      ...(arg.variadic === undefined ? {} : { variadic: arg.variadic }),
      spec: specShape(arg.spec),
    })),
    options: command.options.map((option) => ({
      name: option.name,
      flag: option.flag,
      description: option.description,
      ...(option.spec === undefined ? {} : { spec: specShape(option.spec) }),
      ...(option.required === undefined ? {} : { required: option.required }),
      ...(option.negatable === undefined ? {} : { negatable: option.negatable }),
      ...(option.repeatable === undefined ? {} : { repeatable: option.repeatable }),
    })),
    output: command.output,
  };
}

/** The catalog the build writes (see scripts/build.sh). */
export async function catalogJson(): Promise<string> {
  const { allCommands } = await import('./commands/index.ts');
  return `${JSON.stringify(allCommands.map(shapeOf), null, 1)}\n`;
}

/** The written catalog when there is one (compiled), else the command definitions (source). */
export async function loadCatalog(): Promise<readonly CommandShape[]> {
  const text = await readFile(CATALOG_FILE, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  // Our own build output, written from the definitions beside it: trusted as it is.
  if (text !== undefined) return JSON.parse(text) as CommandShape[];
  return (await import('./commands/index.ts')).allCommands;
}

/** The full definition (parsers and handler) of the command a catalog entry names. */
export async function loadCommand(shape: CommandShape): Promise<CliCommand> {
  const { allCommands } = await import('./commands/index.ts');
  const key = shape.path.join(' ');
  const command = allCommands.find((candidate) => candidate.path.join(' ') === key);
  if (command === undefined)
    throw new InternalError(
      `'mvm ${key}' is in the command catalog but not defined; run 'npm run build'`,
    );
  return command;
}
