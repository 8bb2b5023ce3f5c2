import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { allCommands } from '../../src/cli/commands/index.ts';
import { runIn } from './support/run-cli.ts';

const smokeCommands = [
  'tenant create',
  'tenant list',
  'tenant info',
  'tenant destroy',
  'pool create',
  'pool list',
  'pool info',
  'pool scale',
  'pool destroy',
  'instance list',
  'instance info',
  'instance start',
  'instance stop',
  'instance warm',
  'instance sleep',
  'instance wake',
  'instance destroy',
  'events',
  'node list',
  'node info',
  'node join-token',
  'add host',
  'coordinator serve',
  'image build',
  'image list',
  'completions',
];

/** Asks the generated bash script what it would offer after `words` (the last one is being typed). */
function bashComplete(script: string, words: readonly string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const driver = `${script}\nCOMP_WORDS=(mvm ${quoted}); COMP_CWORD=${words.length}; _mvm; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', driver], { encoding: 'utf8' })
    .split('\n')
    .filter((w) => w !== '');
}

describe('completions', () => {
  it('defines every command the issue asks for', () => {
    const defined = allCommands.map((c) => c.path.join(' '));
    expect(defined).toEqual(expect.arrayContaining(smokeCommands));
  });

  it.each(['bash', 'zsh'])('%s script names every command and every flag', async (shell) => {
    const run = await runIn(['completions', shell]);
    expect(run.code).toBe(0);
    for (const command of allCommands) {
      for (const word of command.path) expect(run.stdout).toContain(`'${word}`);
      for (const option of command.options) expect(run.stdout).toContain(`'${option.flag}`);
    }
    expect(run.stdout).toContain('--coordinator');
  });

  it('refuses an unknown shell', async () => {
    const run = await runIn(['completions', 'fish']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("shell 'fish' is not one of: bash, zsh");
  });

  it('the bash script completes nouns, verbs, flags and flag values', async () => {
    const script = (await runIn(['completions', 'bash'])).stdout;
    expect(bashComplete(script, [''])).toEqual([
      'tenant',
      'token',
      'pool',
      'secrets',
      'job',
      'instance',
      'events',
      'node',
      'add',
      'new',
      'connect',
      'net',
      'status',
      'quickstart',
      'coordinator',
      'agent',
      'image',
      'completions',
    ]);
    expect(bashComplete(script, ['tenant', 'token', ''])).toEqual(['create', 'list', 'revoke']);
    expect(bashComplete(script, ['token', ''])).toEqual(['list', 'revoke', 'rotate-admin']);
    expect(bashComplete(script, ['pool', 'create', 'a/b', '--ro'])).toEqual(['--role']);
    expect(bashComplete(script, ['pool', 'create', 'a/b', '--cpus', '2', '--role', 'g'])).toEqual([
      'gateway',
    ]);
    expect(bashComplete(script, ['pool', 'scale', 'a/b', '--'])).toContain('--sleeping');
    expect(bashComplete(script, ['completions', ''])).toEqual(['bash', 'zsh']);
    expect(bashComplete(script, ['node', 'g'])).toEqual(['gc']);
    expect(bashComplete(script, ['new', ''])).toEqual(['openclaw']);
    expect(bashComplete(script, ['pool', 'config', ''])).toEqual(['set', 'get', 'list', 'unset']);
    expect(bashComplete(script, ['tenant', 'update', 'a', '--egress', ''])).toEqual(['on', 'off']);
  });
});
