import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/cli/config.ts';
import type { ConfigSources } from '../../src/cli/config.ts';
import { filesReader } from './support/run-cli.ts';
import { validationProblems } from '../support/validation-problems.ts';

function load(sources: Partial<ConfigSources> & { files?: Record<string, string> }) {
  return loadConfig({
    flags: {},
    env: {},
    readText: filesReader(sources.files),
    cwd: '/work',
    ...sources,
  });
}

describe('loadConfig', () => {
  it('has working defaults and is frozen', () => {
    const config = load({});
    expect(config).toEqual({
      coordinatorUrl: 'http://127.0.0.1:7070',
      dataDir: '/var/lib/mvm',
      coordinator: {
        listen: '127.0.0.1:7070',
        databaseUrl: '/var/lib/mvm/coordinator.sqlite',
        clusterCidr: '10.240.0.0/12',
        dataDir: '/var/lib/mvm',
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.coordinator)).toBe(true);
  });

  it('layers defaults <- file <- env <- flags', () => {
    const files = {
      '/etc/mvm/config.json': JSON.stringify({
        coordinatorUrl: 'http://file:1',
        token: 'file-token',
        dataDir: '/srv/file',
        coordinator: { listen: '0.0.0.0:8080', clusterCidr: '10.96.0.0/16' },
      }),
    };
    const fromFile = load({ files });
    expect(fromFile.coordinatorUrl).toBe('http://file:1');
    expect(fromFile.configFile).toBe('/etc/mvm/config.json');
    expect(fromFile.coordinator).toMatchObject({
      listen: '0.0.0.0:8080',
      clusterCidr: '10.96.0.0/16',
      databaseUrl: '/srv/file/coordinator.sqlite',
    });

    const env = {
      MVM_COORDINATOR_URL: 'http://env:2/',
      MVM_TOKEN: 'env-token',
      MVM_DATABASE_URL: 'postgres://db/mvm',
    };
    const fromEnv = load({ files, env });
    expect(fromEnv).toMatchObject({
      coordinatorUrl: 'http://env:2',
      token: 'env-token',
      dataDir: '/srv/file',
    });
    expect(fromEnv.coordinator.databaseUrl).toBe('postgres://db/mvm');

    const fromFlags = load({
      files,
      env,
      flags: { coordinator: 'https://flag:3', token: 'flag-token', dataDir: 'rel' },
    });
    expect(fromFlags).toMatchObject({
      coordinatorUrl: 'https://flag:3',
      token: 'flag-token',
      dataDir: '/work/rel',
    });
  });

  it('reads --config, else MVM_CONFIG, and refuses a named file that is missing', () => {
    const files = { '/a.json': '{"dataDir":"/a"}', '/b.json': '{"dataDir":"/b"}' };
    expect(load({ files, env: { MVM_CONFIG: '/b.json' } }).dataDir).toBe('/b');
    expect(
      load({ files, env: { MVM_CONFIG: '/b.json' }, flags: { config: '/a.json' } }).dataDir,
    ).toBe('/a');
    expect(validationProblems(() => load({ flags: { config: '/missing.json' } }))).toEqual([
      expect.stringContaining('config file /missing.json cannot be read'),
    ]);
  });

  it('falls back to the admin token the coordinator wrote, unless a token is given', () => {
    const files = { '/var/lib/mvm/admin.token': 'secret-from-file\n' };
    expect(load({ files }).token).toBe('secret-from-file');
    expect(load({ files, env: { MVM_TOKEN: 'mine' } }).token).toBe('mine');
    const strong = '3f9c2a7e1b5d8064c2e9a1f7b3d5c8e06a4f2b9d7c1e5a3f8b6d0c2e4a9f7b1d';
    expect(load({ files, env: { MVM_ADMIN_TOKEN: strong } }).token).toBe(strong);
  });

  it('reports every problem at once, naming where each bad value came from', () => {
    const files = {
      '/etc/mvm/config.json': '{"coordinator":{"listen":"nowhere"},"colour":"blue"}',
    };
    const problems = validationProblems(() =>
      load({
        files,
        env: { MVM_CLUSTER_CIDR: '10.0.0.0/30', MVM_ADMIN_TOKEN: 'short' },
        flags: { coordinator: 'ftp://x' },
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/config file \/etc\/mvm\/config.json.*colour/),
      expect.stringMatching(/coordinatorUrl 'ftp:\/\/x' \(from flag --coordinator\)/),
      expect.stringMatching(/coordinator.clusterCidr '10.0.0.0\/30' \(from env MVM_CLUSTER_CIDR\)/),
      "coordinator.adminToken (hidden) (from env MVM_ADMIN_TOKEN): is 5 characters long, fewer than 32; generate one with 'openssl rand -hex 32'",
    ]);
  });

  it('refuses a predictable admin token of any length, without showing it', () => {
    const repeated = 'abcd'.repeat(10);
    const problems = validationProblems(() => load({ env: { MVM_ADMIN_TOKEN: repeated } }));
    expect(problems).toEqual([
      expect.stringMatching(
        /^coordinator.adminToken \(hidden\) \(from env MVM_ADMIN_TOKEN\): is too predictable \(about 80 bits/,
      ),
    ]);
    expect(problems.join('\n')).not.toContain(repeated);
    expect(
      validationProblems(() => load({ env: { MVM_ADMIN_TOKEN: 'x'.repeat(40) + ' y' } })),
    ).toEqual([expect.stringContaining('must be printable ASCII without spaces')]);
  });

  it('reports bad values from a file with the file as their origin', () => {
    const files = { '/c.json': '{"coordinator":{"listen":"nowhere"}}' };
    expect(validationProblems(() => load({ files, flags: { config: '/c.json' } }))).toEqual([
      "coordinator.listen 'nowhere' (from file /c.json): must look like host:port, e.g. 127.0.0.1:7070",
    ]);
  });

  it('reports a file that is not JSON', () => {
    expect(
      validationProblems(() => load({ files: { '/d.json': '{' }, flags: { config: '/d.json' } })),
    ).toEqual([expect.stringContaining('config file /d.json is not valid JSON')]);
  });
});
