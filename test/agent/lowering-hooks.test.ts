import { describe, expect, it } from 'vitest';
import { LoweringHooks } from '../../src/agent/runtime/lowering-hooks.ts';

describe('hooks before a VM is lowered', () => {
  it('runs every hook in turn, logs one that fails and goes on, and forgets a removed one', async () => {
    const warnings: unknown[] = [];
    const logger = {
      info: () => undefined,
      debug: () => undefined,
      error: () => undefined,
      warn: (fields: unknown) => void warnings.push(fields),
    };
    const hooks = new LoweringHooks(logger);
    const seen: string[] = [];
    hooks.add(async () => {
      throw new Error('relay gone');
    });
    const remove = hooks.add(async (key) => void seen.push(`a:${key}`));
    hooks.add(async (key) => void seen.push(`b:${key}`));
    await hooks.run('acme/ci/ci-1');
    expect(seen).toEqual(['a:acme/ci/ci-1', 'b:acme/ci/ci-1']);
    expect(warnings).toHaveLength(1);
    remove();
    await hooks.run('acme/ci/ci-2');
    expect(seen).toEqual(['a:acme/ci/ci-1', 'b:acme/ci/ci-1', 'b:acme/ci/ci-2']);
  });
});
