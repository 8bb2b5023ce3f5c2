import { Command } from 'commander';
import { MVM_VERSION } from '../coordinator/version.ts';
import type { RawArg } from './command.ts';
import type { CommandShape } from './command-catalog.ts';
import { globalOptions, JSON_FLAG } from './global-options.ts';
import type { Output } from './render.ts';

/**
 * Builds the commander program from command definitions: nouns become groups, verbs become
 * leaves; commander only splits words, our definitions parse and validate them.
 */
export interface RawInvocation {
  /** The catalog entry; main loads the command's module to run it. */
  command: CommandShape;
  args: readonly RawArg[];
  options: Readonly<Record<string, unknown>>;
  globals: Readonly<Record<string, unknown>>;
}

export interface ProgramOptions {
  commands: readonly CommandShape[];
  groups: Readonly<Record<string, string>>;
  stdout: Output;
  stderr: Output;
  execute(invocation: RawInvocation): Promise<void>;
}

export function buildProgram(options: ProgramOptions): Command {
  const program = new Command('mvm')
    .description('mvm: a multi-tenant microVM fleet manager')
    .version(MVM_VERSION, '--version', 'print the mvm version')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (text) => options.stdout.write(text),
      writeErr: (text) => options.stderr.write(text),
      // Errors are rendered by main with the same printer as every other error.
      outputError: () => undefined,
    });
  for (const global of globalOptions)
    program.option(`${global.flag} ${global.placeholder}`, global.description);
  const groups = new Map<string, Command>([['', program]]);
  for (const command of options.commands) {
    const parent = groupFor(groups, command.path.slice(0, -1), options.groups);
    addLeaf(parent, command, (invocation) =>
      options.execute({ ...invocation, globals: program.opts() }),
    );
  }
  return program;
}

function groupFor(
  groups: Map<string, Command>,
  path: readonly string[],
  descriptions: Readonly<Record<string, string>>,
): Command {
  const key = path.join(' ');
  const existing = groups.get(key);
  if (existing) return existing;
  const parent = groupFor(groups, path.slice(0, -1), descriptions);
  const name = path[path.length - 1] ?? '';
  const group = parent.command(name).description(descriptions[key] ?? key);
  groups.set(key, group);
  return group;
}

function addLeaf(
  parent: Command,
  command: CommandShape,
  execute: (invocation: Omit<RawInvocation, 'globals'>) => Promise<void>,
): void {
  const name = command.path[command.path.length - 1] ?? '';
  const leaf = parent.command(name).description(command.description);
  for (const arg of command.args) {
    const label = arg.spec.placeholder.replace(/^<|>$/g, '') + (arg.variadic ? '...' : '');
    leaf.argument(
      arg.optional ? `[${label}]` : `<${label}>`,
      describe(arg.description, arg.spec.choices),
    );
  }
  for (const option of command.options) {
    const placeholder = option.spec === undefined ? '' : ` ${option.spec.placeholder}`;
    const suffix = option.required ? ' (required)' : option.repeatable ? ' (repeatable)' : '';
    const text = describe(option.description, option.spec?.choices) + suffix;
    if (option.repeatable) {
      leaf.option(`${option.flag}${placeholder}`, text, collect);
    } else {
      leaf.option(`${option.flag}${placeholder}`, text);
    }
    if (option.negatable) leaf.option(`--no-${option.flag.slice(2)}`, `unset ${option.flag}`);
  }
  if (command.output === 'data') leaf.option(JSON_FLAG.flag, JSON_FLAG.description);
  leaf.action(async (...received: unknown[]) => {
    const self = received[received.length - 1] as Command;
    await execute({
      command,
      args: self.processedArgs as RawArg[],
      options: self.opts(),
    });
  });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function describe(text: string, choices: readonly string[] | undefined): string {
  return choices === undefined || text.includes(choices[0] ?? '')
    ? text
    : `${text} (one of: ${choices.join(', ')})`;
}
