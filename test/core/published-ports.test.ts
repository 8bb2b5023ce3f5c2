import { describe, expect, it } from 'vitest';
import { mergeHooks, parseHook, secretsChanged } from '../../src/core/pool-hooks.ts';
import {
  needsWake,
  parsePublish,
  pickPublishTarget,
  publishProblems,
} from '../../src/core/published-ports.ts';
import { openclawHooks } from '../../src/core/openclaw-profiles.ts';
import { planOpenclaw } from '../../src/core/openclaw-plan.ts';

describe('published ports', () => {
  it('parses HOSTPORT:GUESTPORT and refuses anything else by name', () => {
    expect(parsePublish('18789:18789')).toEqual({ hostPort: 18789, guestPort: 18789 });
    expect(parsePublish(' 8080:80 ')).toEqual({ hostPort: 8080, guestPort: 80 });
    for (const bad of [
      '80',
      ':80',
      '80:',
      '0:80',
      '80:0',
      '65536:80',
      '80:65536',
      'a:b',
      '08:80',
    ]) {
      expect(() => parsePublish(bad), bad).toThrow(/HOSTPORT:GUESTPORT/);
    }
  });

  it('names a host port published twice in one pool (guest ports may repeat)', () => {
    expect(
      publishProblems([
        { hostPort: 1, guestPort: 80 },
        { hostPort: 2, guestPort: 80 },
      ]),
    ).toEqual([]);
    expect(
      publishProblems([
        { hostPort: 1, guestPort: 80 },
        { hostPort: 1, guestPort: 81 },
      ]),
    ).toEqual(['host port 1 is published twice']);
  });

  it('picks a running instance first, then warm, then sleeping, never a stopped one', () => {
    const a = { key: 'a', status: 'sleeping' };
    const b = { key: 'b', status: 'warm' };
    const c = { key: 'c', status: 'running' };
    const d = { key: 'd', status: 'stopped' };
    expect(pickPublishTarget([a, b, c, d])).toBe(c);
    expect(pickPublishTarget([a, b, d])).toBe(b);
    expect(pickPublishTarget([d, a])).toBe(a);
    expect(pickPublishTarget([d, { key: 'e', status: 'failed' }])).toBeUndefined();
    expect(needsWake('warm') && needsWake('sleeping') && !needsWake('running')).toBe(true);
  });

  it('spreads connections over the running instances by turn', () => {
    const running = ['x', 'y', 'z'].map((key) => ({ key, status: 'running' }));
    const picked = [0, 1, 2, 3].map((turn) => pickPublishTarget([...running].reverse(), turn)?.key);
    expect(picked).toEqual(['x', 'y', 'z', 'x']);
  });
});

describe('pool hooks', () => {
  it('parses words, a JSON argv or none', () => {
    expect(parseHook('openclaw gateway suspend', '--before-sleep')).toEqual([
      'openclaw',
      'gateway',
      'suspend',
    ]);
    expect(parseHook('["sh","-c","echo a b > /x"]', '--after-wake')).toEqual([
      'sh',
      '-c',
      'echo a b > /x',
    ]);
    expect(parseHook('none', '--after-wake')).toBeNull();
    for (const bad of ['', '[]', '[1]', '["a"', '  ']) {
      expect(() => parseHook(bad, '--after-wake'), bad).toThrow(/--after-wake/);
    }
  });

  it('merges an update: null removes, absent keeps', () => {
    const current = { beforeSleep: ['a'], afterWake: ['b'] };
    expect(mergeHooks(current, { afterWake: null, secretsReload: ['c'] })).toEqual({
      beforeSleep: ['a'],
      secretsReload: ['c'],
    });
    expect(current).toEqual({ beforeSleep: ['a'], afterWake: ['b'] });
  });

  it('reloads secrets only when a digest was known and changed', () => {
    expect(secretsChanged(undefined, 'a')).toBe(false);
    expect(secretsChanged('a', undefined)).toBe(false);
    expect(secretsChanged('a', 'a')).toBe(false);
    expect(secretsChanged('a', 'b')).toBe(true);
  });
});

describe('mvm new openclaw', () => {
  it('publishes 18789 on the gateway pool, and sets the OpenClaw hooks with its images', () => {
    const dev = planOpenclaw();
    const gateway = dev.pools.find((p) => p.id === 'gateways');
    expect(gateway?.publish).toEqual([{ hostPort: 18789, guestPort: 18789 }]);
    expect(gateway?.hooks).toBeUndefined();
    expect(dev.pools.find((p) => p.id === 'workers')?.publish).toBeUndefined();

    const real = planOpenclaw({
      profileImages: { gateway: 'oci:/g:openclaw-gateway', worker: 'oci:/w:openclaw-worker' },
      hostPort: 28789,
    });
    const withImages = real.pools.find((p) => p.id === 'gateways');
    expect(withImages?.publish).toEqual([{ hostPort: 28789, guestPort: 18789 }]);
    expect(withImages?.hooks).toEqual(openclawHooks());
    const hooks = openclawHooks();
    expect(hooks.beforeSleep?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(hooks.beforeSleep?.[2]).toMatch(
      /export OPENCLAW_STATE_DIR='\/data\/openclaw'; .*exec \/opt\/node\/bin\/node \/opt\/mvm-openclaw\/start\.mjs gateway suspend$/,
    );
    expect(hooks.afterWake?.[2]).toMatch(/start\.mjs gateway resume$/);
    expect(hooks.secretsReload?.[2]).toMatch(/start\.mjs secrets reload$/);
  });
});
