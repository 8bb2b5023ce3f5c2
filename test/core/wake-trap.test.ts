import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { armScript, disarmScript, wakeRulesScript } from '../../src/core/wake-trap.ts';

const entry = { bridge: 'mvb7', ip: '10.240.7.5', port: 8080, listenPort: 41000 };

describe('wake trap scripts', () => {
  it('arms holding elements before the address, and disarms the address first', () => {
    expect(armScript('mvb7', '10.240.7.5', [entry]).split('\n')).toEqual([
      'add element inet mvm_wake holding { "mvb7" . 10.240.7.5 . 8080 : 41000 }',
      'add element inet mvm_wake sleeping { "mvb7" . 10.240.7.5 }',
    ]);
    expect(disarmScript('mvb7', '10.240.7.5', [entry]).split('\n')).toEqual([
      'delete element inet mvm_wake sleeping { "mvb7" . 10.240.7.5 }',
      'delete element inet mvm_wake holding { "mvb7" . 10.240.7.5 . 8080 : 41000 }',
    ]);
  });

  it('matches only a bare SYN from the address’s own bridge', () => {
    for (const rule of wakeRulesScript().split('\n')) {
      expect(rule).toContain(
        'iifname . ip daddr @sleeping tcp flags & (fin | syn | rst | ack) == syn',
      );
    }
  });

  it('refuses names, addresses and ports that could break out of the script', () => {
    for (const bad of [
      { ...entry, bridge: 'br0 }; flush ruleset; {' },
      { ...entry, ip: '10.0.0.1 }' },
      { ...entry, port: 0 },
      { ...entry, listenPort: 70_000 },
    ]) {
      expect(() => armScript('mvb7', '10.240.7.5', [bad])).toThrow(ValidationError);
    }
    expect(() => disarmScript('x"y', '10.240.7.5', [])).toThrow(ValidationError);
  });
});
