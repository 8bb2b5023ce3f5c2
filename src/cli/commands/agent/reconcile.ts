import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ValidationError } from '../../../core/errors.ts';
import { parseDocument, seedDocumentSchema } from '../../../contract/desired.ts';
import { defineCommand, requiredOption } from '../../command.ts';
import { text } from '../../values.ts';

async function readSeed(path: string) {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ValidationError(`cannot read desired-state file '${path}': ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ValidationError(
      `desired-state file '${path}' is not JSON: ${(error as Error).message}`,
    );
  }
  return parseDocument(seedDocumentSchema, json, `desired-state file '${path}'`);
}

export const agentReconcile = defineCommand({
  path: ['agent', 'reconcile'],
  description:
    'Converge this node once on a seed desired-state file (schema v1), without a coordinator',
  args: {},
  options: { desired: requiredOption(text('<file>'), 'seed document: tenants → pools → counts') },
  output: 'data',
  async handler(ctx, _args, opts) {
    const seed = await readSeed(opts.desired);
    const config = ctx.agentConfig();
    const { startAgent } = await import('../../../agent/start-agent.ts');
    const agent = await startAgent(config, { mode: 'runtime' });
    try {
      const steps = await agent.applySeed(seed, {
        nodeId:
          hostname()
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, '-') || 'local',
        onStep: (s) => ctx.print(`${s.instance}: ${s.status}${s.error ? ` (${s.error})` : ''}`),
      });
      const failed = steps.filter((s) => s.error !== undefined).length;
      return {
        data: steps,
        human: [{ kind: 'text', text: `${steps.length} instance(s) converged, ${failed} failed` }],
      };
    } finally {
      await agent.close();
    }
  },
});
