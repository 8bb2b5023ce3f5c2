import { arg, defineCommand } from '../../command.ts';
import { bashCompletion, zshCompletion } from '../../completions.ts';
import { choice } from '../../values.ts';
import { groupDescriptions } from '../groups.ts';

export const completions = defineCommand({
  path: ['completions'],
  description: 'Print a shell completion script (bash or zsh)',
  args: { shell: arg(choice(['bash', 'zsh'] as const, '<shell>'), 'bash or zsh') },
  options: {},
  output: 'text',
  async handler(ctx, args) {
    const generate = args.shell === 'bash' ? bashCompletion : zshCompletion;
    const script = generate(ctx.commands, groupDescriptions);
    return { data: script, human: [{ kind: 'text', text: script }] };
  },
});
