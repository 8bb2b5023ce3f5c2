import { defineCommand } from '../../command.ts';
import { databaseOption } from './database-option.ts';

export const coordinatorRotateSecretsKey = defineCommand({
  path: ['coordinator', 'rotate-secrets-key'],
  description:
    "On the coordinator's host: reseal every stored secret under a new master key in one transaction, then drop the old key (with MVM_SECRETS_KEY: under its first key, naming the keys it no longer needs); see docs/secrets.md",
  args: {},
  options: {
    database: databaseOption,
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const settings = ctx.config(opts).coordinator;
    const { rotateSecretsKeyOnHost } =
      await import('../../../coordinator/secrets/rotate-on-host.ts');
    const rotated = await rotateSecretsKeyOnHost(settings);
    const retired = rotated.retired.length === 0 ? 'none' : rotated.retired.join(', ');
    const fromEnv = rotated.kind === 'environment';
    return {
      data: rotated,
      human: [
        {
          kind: 'fields',
          fields: [
            ['key id', rotated.keyId],
            ['keys in', rotated.source],
            ['resealed', String(rotated.resealed)],
            [fromEnv ? 'no longer needed' : 'dropped', retired],
          ],
        },
        ...(fromEnv && rotated.retired.length > 0
          ? [
              {
                kind: 'text' as const,
                text: 'remove those keys from MVM_SECRETS_KEY on every coordinator and restart them',
              },
            ]
          : []),
      ],
    };
  },
});
