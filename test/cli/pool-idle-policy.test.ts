import { describe, expect, it } from 'vitest';
import type { PoolDetailView, PoolView } from '../../src/contract/resources.ts';
import { cliForSuite } from './support/cli-lines.ts';

const { mvm, ok } = cliForSuite();

describe('pool idle policy and service ports on the command line', () => {
  it('sets them on create, shows them in info and changes them on update', async () => {
    await ok('mvm tenant create idle --net-id 43');
    const created = await ok(
      'mvm pool create idle/web --cpus 1 --mem 256 --idle-warm-after 60 --idle-sleep-after 600 --service-port 80,8080',
    );
    expect(created).toMatch(/idle warm after:\s+60 s/);
    expect(created).toMatch(/idle sleep after:\s+600 s/);
    expect(created).toMatch(/service ports:\s+80, 8080/);
    const info = JSON.parse(await ok('mvm pool info idle/web --json')) as PoolDetailView;
    expect(info).toMatchObject({
      idleWarmAfterSecs: 60,
      idleSleepAfterSecs: 600,
      servicePorts: [80, 8080],
    });
    const updated = JSON.parse(
      await ok('mvm pool update idle/web --idle-warm-after 0 --service-port none --json'),
    ) as PoolView;
    expect(updated).toMatchObject({ idleWarmAfterSecs: 0, idleSleepAfterSecs: 600 });
    expect(updated.servicePorts).toEqual([]);
    expect(await ok('mvm pool info idle/web')).toMatch(/idle warm after:\s+never/);
  });

  it.each([
    ['mvm pool update idle/web --service-port 80,x', 'TCP ports 1-65535'],
    ['mvm pool update idle/web --service-port 70000', 'TCP ports 1-65535'],
    ['mvm pool update idle/web --idle-sleep-after -1', '--idle-sleep-after'],
  ])('refuses %s on the command line', async (line, message) => {
    const run = await mvm(line);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('refuses a sleep step before the warm step and repeated ports, changing nothing', async () => {
    const before = await ok('mvm pool info idle/web --json');
    const early = await mvm('mvm pool update idle/web --idle-warm-after 900');
    expect(early.code).not.toBe(0);
    expect(early.stderr).toContain('longer than idleWarmAfterSecs');
    const twice = await mvm('mvm pool update idle/web --service-port 80,80');
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('distinct');
    const after = JSON.parse(await ok('mvm pool info idle/web --json')) as PoolDetailView;
    const was = JSON.parse(before) as PoolDetailView;
    expect(after).toEqual(was);
  });
});
