import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolConfigView, SecretView } from '../../src/contract/secrets.ts';
import type { TenantView } from '../../src/contract/resources.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

/** The secrets, pool config and egress commands against a real coordinator app on SQLite. */
let coordinator: InProcessCoordinator;
const { ok, fails, json } = cliLines(() => coordinator);
let files: string;

const LITERAL = 'literal-secret-2c9e71d4';
const FROM_FILE = 'file-secret-8b3f05a6\nsecond line\n';
const GATEWAY_JSON = '{"routes":[{"to":"10.1.0.0/16","via":"10.0.0.1"}]}\n';

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  files = await mkdtemp(join(tmpdir(), 'mvm-cli-secrets-'));
  await writeFile(join(files, 'token.txt'), FROM_FILE);
  await writeFile(join(files, 'gateway.json'), GATEWAY_JSON);
  await writeFile(join(files, 'blob.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
  await ok('mvm tenant create acme');
  await ok('mvm pool create acme/web --flake . --profile minimal --cpus 1 --mem 256');
  await ok('mvm pool create acme/gw --role gateway --flake . --profile minimal --cpus 1 --mem 256');
});
afterAll(async () => {
  await coordinator.close();
  await rm(files, { recursive: true, force: true });
});

function expectNoValues(...outputs: string[]): void {
  for (const output of outputs) {
    expect(output).not.toContain(LITERAL);
    expect(output).not.toContain('file-secret-8b3f05a6');
  }
}

describe('secrets commands', () => {
  it('sets several at once (literal and @file), lists names only, rotates and unsets', async () => {
    const set = await ok(`mvm secrets set acme API_KEY=${LITERAL} TOKEN=@${files}/token.txt`);
    expect(set).toMatch(/^NAME +SCOPE +VERSION +CREATED +UPDATED$/m);
    expect(set).toMatch(/^API_KEY +tenant +1 /m);
    expect(set).toMatch(/^TOKEN +tenant +1 /m);
    expect(set).toContain('at their next start or wake');
    const pool = await json<{ secrets: SecretView[] }>(
      `mvm secrets set acme/web API_KEY=@${files}/token.txt --json`,
    );
    expect(pool.secrets).toEqual([expect.objectContaining({ name: 'API_KEY', pool: 'web' })]);
    const rotated = await ok(`mvm secrets rotate acme API_KEY=${LITERAL}-2`);
    expect(rotated).toMatch(/^API_KEY +tenant +2 /m);

    const list = await ok('mvm secrets list acme');
    expect(list).toMatch(/^API_KEY +tenant +2 /m);
    expect(list).toMatch(/^TOKEN +tenant +1 /m);
    expect(list).toMatch(/^API_KEY +pool web +1 /m);
    const listed = await json<SecretView[]>('mvm secrets list acme --pool web --json');
    expect(listed.map((s) => `${s.name}@${s.pool ?? '-'}`)).toEqual([
      'API_KEY@-',
      'TOKEN@-',
      'API_KEY@web',
    ]);
    const unset = await ok('mvm secrets unset acme TOKEN GHOST');
    expect(unset).toContain('removed: TOKEN');
    expect(unset).toContain('not set (nothing to remove): GHOST');
    const events = await ok('mvm events acme --last 20 --json');
    expectNoValues(set, JSON.stringify(pool), rotated, list, JSON.stringify(listed), unset, events);
  });

  it("takes names that are also Object.prototype's (constructor, toString) as any other", async () => {
    const set = await json<{ secrets: SecretView[] }>(
      'mvm secrets set acme/web constructor=a toString=b --json',
    );
    expect(set.secrets.map((s) => [s.name, s.version])).toEqual([
      ['constructor', 1],
      ['toString', 1],
    ]);
    const again = await json<{ secrets: SecretView[] }>(
      'mvm secrets rotate acme/web constructor=c --json',
    );
    expect(again.secrets.map((s) => [s.name, s.version])).toEqual([['constructor', 2]]);
    await ok('mvm secrets unset acme/web constructor toString');
  });

  it('refuses bad words without echoing a value', async () => {
    const cases = [
      [`mvm secrets set acme bad-name=${LITERAL}`, "values 1: the part before '=' is not a secret"],
      [`mvm secrets set acme ${LITERAL}==`, "values 1: the part before '=' is not a secret"],
      [`mvm secrets unset acme ${LITERAL}`, 'names 1 is not a secret name'],
      [`mvm secrets set acme ${LITERAL}`, "values 1 is not NAME=VALUE or NAME=@FILE (no '=')"],
      [`mvm secrets set acme A=${LITERAL} A=x`, 'A is given more than once'],
      [`mvm secrets set acme A=@${files}/blob.bin`, 'is not UTF-8 text'],
      [`mvm secrets set acme A=@${files}/missing`, 'cannot read'],
      [`mvm secrets rotate acme NEVER_SET=${LITERAL}`, 'NEVER_SET not set for tenant'],
      [`mvm secrets set acme/nope A=${LITERAL}`, "pool 'acme/nope' not found"],
      ['mvm secrets set acme', "missing required argument 'NAME=VALUE|NAME=@FILE'"],
    ];
    for (const [line = '', expected = ''] of cases) {
      const stderr = await fails(line);
      expect(stderr, line).toContain(expected);
      expectNoValues(stderr);
    }
  });
});

describe('pool config commands', () => {
  it('sets files from disk and NAME=VALUE, reads them back, and unsets', async () => {
    const set = await ok(`mvm pool config set acme/gw ${files}/gateway.json MODE=edge`);
    expect(set).toMatch(/^version: +1$/m);
    expect(set).toMatch(/^\/etc\/mvm-config\/gateway\.json +51$/m);
    expect(set).toMatch(/^\/etc\/mvm-config\/MODE +4$/m);
    expect(await ok('mvm pool config get acme/gw gateway.json')).toBe(GATEWAY_JSON);
    const all = await ok('mvm pool config get acme/gw');
    expect(all).toContain('==> /etc/mvm-config/MODE <==\nedge');
    const renamed = await json<PoolConfigView>(
      `mvm pool config set acme/gw edge.json=@${files}/gateway.json --json`,
    );
    expect(renamed).toMatchObject({ version: 2, files: { 'edge.json': GATEWAY_JSON } });
    const unset = await json<PoolConfigView>('mvm pool config unset acme/gw MODE edge.json --json');
    expect(unset).toMatchObject({ version: 3, files: { 'gateway.json': GATEWAY_JSON } });
    expect(await ok('mvm pool config list acme/gw')).toMatch(/^version: +3$/m);
    expect(await fails('mvm pool config get acme/gw MODE')).toContain(
      "pool 'acme/gw' has no config file 'MODE' (version 3)",
    );
    expect(await fails('mvm pool config set acme/gw .hidden=1')).toContain(
      "the file '.hidden=1' would be named",
    );
  });
});

describe('tenant egress', () => {
  it('switches egress on and off, and creates a tenant with it', async () => {
    const on = await ok('mvm tenant update acme --egress on');
    expect(on).toContain("updated egress of tenant 'acme'");
    expect(on).toMatch(/^egress: +on$/m);
    const off = await json<TenantView>('mvm tenant update acme --egress off --json');
    expect(off.egress).toBe(false);
    const created = await json<TenantView>('mvm tenant create open --egress on --json');
    expect(created.egress).toBe(true);
    expect(await fails('mvm tenant update acme --egress maybe')).toContain(
      "--egress 'maybe' is not one of: on, off",
    );
    expect(await fails('mvm tenant update acme')).toContain('or --egress on|off');
  });
});
