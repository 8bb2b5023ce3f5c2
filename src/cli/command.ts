import { ValidationError } from '../core/errors.ts';
import type { AgentConfig, AgentFlags } from '../agent/agent-config.ts';
import type { ApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { Config, ConfigFlags } from './config.ts';
import type { Block } from './render.ts';
import type { Terminal } from './terminal.ts';
import { tryParse } from './values.ts';
import type { ValueSpec } from './values.ts';

/**
 * A CLI command as data: its place in the `noun verb` tree, its arguments and options with
 * their parsers, and a handler that returns data plus how to show it to a human. The
 * commander program, help, completions and tests are all built from these definitions.
 */
export interface ArgDef<T> {
  description: string;
  spec: ValueSpec<T>;
  optional?: boolean;
  /**
   * The last argument only: takes every remaining word (at least one unless `optional`), each
   * parsed by `spec`; words after `--` count too, options included.
   */
  variadic?: boolean;
}

/** A word as commander hands it over: one, several (a variadic argument) or none. */
export type RawArg = string | readonly string[] | undefined;

export interface OptionDef<T> {
  description: string;
  /** Absent for boolean flags. */
  spec?: ValueSpec<T>;
  required?: boolean;
  /** Boolean flags only: also accept `--no-<flag>` so the value can be set to false. */
  negatable?: boolean;
  /** May be given several times; the values come as a list, in order. */
  repeatable?: boolean;
}

export type ArgDefs = Record<string, ArgDef<unknown>>;
export type OptionDefs = Record<string, OptionDef<unknown>>;

export type ArgValues<A extends ArgDefs> = {
  [K in keyof A]: A[K] extends ArgDef<infer T>
    ? A[K]['variadic'] extends true
      ? T[]
      : A[K]['optional'] extends true
        ? T | undefined
        : T
    : never;
};
export type OptionValues<O extends OptionDefs> = {
  [K in keyof O]: O[K] extends OptionDef<infer T>
    ? O[K]['repeatable'] extends true
      ? T[]
      : O[K]['required'] extends true
        ? T
        : T | undefined
    : never;
};

export interface CommandResult {
  /** What `--json` prints, exactly. */
  data: unknown;
  /** What a human sees instead. */
  human: readonly Block[];
  /** The process's exit status when it is not 0 (`mvm instance exec` passes the command's). */
  exitCode?: number;
}

export interface CommandContext {
  /** The layered config; `extra` adds a command's own config flags (e.g. serve's --listen). */
  config(extra?: ConfigFlags): Config;
  /** This host's agent settings (global flags, env and file too); `extra`: a command's flags. */
  agentConfig(extra?: AgentFlags): Readonly<AgentConfig>;
  client(): ApiClient;
  /** Every registered command (completions are generated from them). */
  commands: readonly CliCommand[];
  /** Resolves with the signal name when the process is asked to stop. */
  untilShutdown(): Promise<string>;
  /** Progress lines for long-running commands; goes to stdout as it happens. */
  print(line: string): void;
  /** The process's own streams and terminal, for commands that relay bytes (exec, shell, cp). */
  terminal(): Terminal;
}

export interface CommandSpec<A extends ArgDefs, O extends OptionDefs> {
  /** Words after `mvm`, e.g. `['tenant', 'create']`. */
  path: readonly string[];
  description: string;
  args: A;
  options: O;
  /** `data` commands get `--json`; `text` commands print their own text (completions, serve). */
  output: 'data' | 'text';
  handler(ctx: CommandContext, args: ArgValues<A>, opts: OptionValues<O>): Promise<CommandResult>;
}

/** The erased form the program, completions and tests work with. */
export interface CliCommand {
  path: readonly string[];
  description: string;
  args: ReadonlyArray<{ name: string } & ArgDef<unknown>>;
  options: ReadonlyArray<{ name: string; flag: string } & OptionDef<unknown>>;
  output: 'data' | 'text';
  /** Parses raw words (all problems at once), then runs the handler. */
  run(
    ctx: CommandContext,
    rawArgs: readonly RawArg[],
    rawOpts: Readonly<Record<string, unknown>>,
  ): Promise<CommandResult>;
}

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function commandName(command: Pick<CliCommand, 'path'>): string {
  return `mvm ${command.path.join(' ')}`;
}

export function defineCommand<const A extends ArgDefs, const O extends OptionDefs>(
  spec: CommandSpec<A, O>,
): CliCommand {
  const args = Object.entries(spec.args).map(([name, def]) => ({ name, ...def }));
  const options = Object.entries(spec.options).map(([name, def]) => ({
    name,
    flag: `--${kebab(name)}`,
    ...def,
  }));
  const self: CliCommand = {
    path: spec.path,
    description: spec.description,
    args,
    options,
    output: spec.output,
    async run(ctx, rawArgs, rawOpts) {
      const problems: string[] = [];
      const argValues = parseArgs(args, rawArgs, problems);
      const optValues = parseOptions(options, rawOpts, problems);
      if (problems.length > 0) {
        throw new ValidationError(
          `invalid arguments for '${commandName(self)}'; see 'mvm ${spec.path.join(' ')} --help'`,
          problems,
        );
      }
      return spec.handler(ctx, argValues as ArgValues<A>, optValues as OptionValues<O>);
    },
  };
  return self;
}

function parseArgs(
  args: CliCommand['args'],
  raw: readonly RawArg[],
  problems: string[],
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  args.forEach((arg, index) => {
    const given = raw[index];
    const words = given === undefined ? [] : typeof given === 'string' ? [given] : [...given];
    if (words.length === 0) {
      if (!arg.optional)
        problems.push(`missing argument ${arg.spec.placeholder} (${arg.description})`);
      if (arg.variadic) values[arg.name] = [];
      return;
    }
    const parsed = words.map((word, i) =>
      tryParse(arg.spec, word, arg.variadic ? `${arg.name} ${i + 1}` : arg.name, problems),
    );
    values[arg.name] = arg.variadic ? parsed : parsed[0];
  });
  return values;
}

function parseOptions(
  options: CliCommand['options'],
  raw: Readonly<Record<string, unknown>>,
  problems: string[],
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const option of options) {
    const word = raw[option.name];
    if (word === undefined) {
      if (option.required)
        problems.push(
          `missing ${option.flag} ${option.spec?.placeholder ?? ''}`.trimEnd() +
            ` (${option.description})`,
        );
    } else if (option.spec === undefined || typeof word === 'boolean') {
      values[option.name] = word === true;
    } else if (option.repeatable) {
      const spec = option.spec;
      const words = Array.isArray(word) ? (word as unknown[]) : [word];
      values[option.name] = words.map((w) => tryParse(spec, String(w), option.flag, problems));
    } else {
      values[option.name] = tryParse(option.spec, String(word), option.flag, problems);
    }
  }
  return values;
}

/** Helpers that keep command files short and their option tables readable. */
export const arg = <T>(spec: ValueSpec<T>, description: string): ArgDef<T> => ({
  spec,
  description,
});
export const optionalArg = <T>(spec: ValueSpec<T>, description: string) => ({
  spec,
  description,
  optional: true as const,
});
export const option = <T>(spec: ValueSpec<T>, description: string): OptionDef<T> => ({
  spec,
  description,
});
export const requiredOption = <T>(spec: ValueSpec<T>, description: string) => ({
  spec,
  description,
  required: true as const,
});
/** The last argument, taking every remaining word (write `--` before words that start with `-`). */
export const variadicArg = <T>(spec: ValueSpec<T>, description: string) => ({
  spec,
  description,
  variadic: true as const,
});
export const repeatableOption = <T>(spec: ValueSpec<T>, description: string) => ({
  spec,
  description,
  repeatable: true as const,
});
export const flag = (description: string, negatable = false): OptionDef<boolean> => ({
  description,
  negatable,
});
