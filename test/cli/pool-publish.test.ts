/**
 * `mvm pool create|update --publish HOSTPORT:GUESTPORT` and the hook options on the command
 * line, and `mvm connect` naming the published URLs, against an in-process coordinator on
 * SQLite and Postgres.
 */
import { expect, it } from 'vitest';
import type { PoolDetailView, PoolView } from '../../src/contract/resources.ts';
import type { ConnectView } from '../../src/cli/views/connect-views.ts';
import { cliLines } from './support/cli-lines.ts';
import { describeEachCoordinator } from './support/in-process-coordinator.ts';

await describeEachCoordinator('pool --publish and hooks on the command line', (coordinator) => {
  const { mvm, ok, json } = cliLines(coordinator);

  it('publishes on create, shows it in info and connect, and changes it on update', async () => {
    await ok('mvm tenant create acme --net-id 41');
    const created = await ok(
      'mvm pool create acme/gw --role gateway --cpus 1 --mem 256 --publish 18789:18789 --publish 8080:80 --before-sleep /bin/false --after-wake /bin/true',
    );
    expect(created).toMatch(/published:\s+18789→18789, 8080→80/);
    expect(created).toMatch(/hook beforeSleep:\s+\["\/bin\/false"\]/);
    const info = await json<PoolDetailView>('mvm pool info acme/gw --json');
    expect(info.publish).toEqual([
      { hostPort: 18789, guestPort: 18789 },
      { hostPort: 8080, guestPort: 80 },
    ]);
    expect(info.hooks).toEqual({ beforeSleep: ['/bin/false'], afterWake: ['/bin/true'] });

    const connect = await json<ConnectView>('mvm connect acme --json');
    expect(connect.published).toEqual([
      { pool: 'gw', hostPort: 18789, guestPort: 18789, nodes: [], url: 'http://127.0.0.1:18789/' },
      { pool: 'gw', hostPort: 8080, guestPort: 80, nodes: [], url: 'http://127.0.0.1:8080/' },
    ]);
    expect(await ok('mvm connect acme')).toContain('http://127.0.0.1:18789/');

    const updated = await json<PoolView>(
      'mvm pool update acme/gw --publish none --before-sleep none --json',
    );
    expect(updated.publish).toEqual([]);
    expect(updated.hooks).toEqual({ afterWake: ['/bin/true'] });
    expect((await json<ConnectView>('mvm connect acme --json')).published).toBeUndefined();

    // The clones' warm-up (docs/clones.md) is a hook like the others: set, shown, removed.
    const warm = await json<PoolView>(
      'mvm pool update acme/gw --warm-up ["cat","/data/index"] --json',
    );
    expect(warm.hooks).toEqual({
      afterWake: ['/bin/true'],
      warmUp: ['cat', '/data/index'],
    });
    expect((await json<PoolView>('mvm pool update acme/gw --warm-up none --json')).hooks).toEqual({
      afterWake: ['/bin/true'],
    });
  });

  it('refuses a host port another tenant publishes: exit code of a conflict, nothing created', async () => {
    await ok('mvm tenant create one --net-id 42');
    await ok('mvm tenant create two --net-id 43');
    await ok('mvm pool create one/web --cpus 1 --mem 256 --publish 9000:80');
    const clash = await mvm('mvm pool create two/web --cpus 1 --mem 256 --publish 9000:80');
    expect(clash.code).not.toBe(0);
    expect(clash.code).not.toBe(2);
    expect(clash.stderr).toContain("host port 9000 is already published by pool 'one/web'");
    expect((await mvm('mvm pool info two/web')).code).not.toBe(0);
  });

  it.each([
    ['--publish 80', 'HOSTPORT:GUESTPORT'],
    ['--publish 70000:80', 'HOSTPORT:GUESTPORT'],
    ['--publish 0:80', 'HOSTPORT:GUESTPORT'],
    ['--publish 80:80 --publish 80:81', 'published twice'],
    ['--after-wake [1,2]', 'a command'],
    ['--warm-up []', 'a command'],
  ])('refuses %s', async (flags, message) => {
    await ok('mvm tenant create bad --net-id 44');
    const run = await mvm(`mvm pool create bad/web --cpus 1 --mem 256 ${flags}`);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
    expect((await mvm('mvm pool info bad/web')).code).not.toBe(0);
  });
});
