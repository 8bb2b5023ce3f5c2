import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { faultHook } from '../../src/agent/fault-hook.ts';

const quiet = pino({ level: 'silent' });

describe('faultHook', () => {
  it('is off unless a point is configured', () => {
    expect(faultHook(undefined, quiet)).toBeUndefined();
  });

  it('kills only at its own point', () => {
    const kills: string[] = [];
    const hook = faultHook('sleep.after-stop', quiet, () => kills.push('killed'));
    hook?.('sleep.after-snapshot');
    hook?.('wake.after-restore');
    expect(kills).toEqual([]);
    hook?.('sleep.after-stop');
    expect(kills).toEqual(['killed']);
  });
});
