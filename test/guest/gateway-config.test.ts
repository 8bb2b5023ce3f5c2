/**
 * The guest's check of gateway.json (`mvm-agent gateway FILE`, the real static binary run on
 * the host) agrees with the coordinator's (src/core/gateway-config.ts) on every sample: the
 * same files pass, with the same routes, and the same files are refused.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGatewayConfig } from '../../src/core/gateway-config.ts';
import { agentBinary } from '../support/host-agent.ts';

const run = promisify(execFile);

const samples = [
  '{"routes":[{"to":"10.1.0.0/16","via":"10.240.3.1"},{"to":"0.0.0.0/0","via":"192.168.1.1"}]}',
  '{}',
  '{"routes":[]}',
  '{"routes":[{"to":"10.9.8.7/32","via":"10.0.0.1"}]}',
  '{"routes":[{"to":"10.1.0.1/16","via":"10.240.3.1"}]}',
  '{"routes":[{"to":"10.1.0.0/16","via":"127.0.0.1"}]}',
  '{"routes":[{"to":"10.1.0.0/16","via":"10.0.0.01"}]}',
  '{"routes":[{"to":"10.1.0.0/33","via":"10.0.0.1"}]}',
  '{"routes":[{"to":"10.1.0.0/016","via":"10.0.0.1"}]}',
  '{"routes":[{"to":"10.1.0.0/16","via":"10.0.0.1","metric":1}]}',
  '{"routes":[{"to":"10.1.0.0/16"}]}',
  '{"routes":["10.1.0.0/16"]}',
  '{"routes":{}}',
  '{"upstream":"10.0.0.1"}',
  '{"routes":[{"to":"10.1.0.0/16","via":"10.0.0.1"},{"to":"10.1.0.0/16","via":"10.0.0.2"}]}',
  JSON.stringify({
    routes: Array.from({ length: 65 }, (_, i) => ({ to: `10.${i}.0.0/16`, via: '10.0.0.1' })),
  }),
  'not json',
  '[]',
];

describe('mvm-agent gateway FILE', () => {
  let dir = '';
  let binary = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-gw-'));
    binary = await agentBinary();
  }, 120_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const guestCheck = async (text: string) => {
    const file = join(dir, 'gateway.json');
    await writeFile(file, text);
    return run(binary, ['gateway', file]).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  };

  it.each(samples.map((s) => [s.slice(0, 80), s]))('%s', async (_name, text) => {
    const host = checkGatewayConfig(text);
    const guest = await guestCheck(text);
    if (host.ok) {
      expect(guest.code).toBe(0);
      const lines = host.config.routes.map((r) => `${r.to} ${r.via}\n`).join('');
      expect(guest.stdout).toBe(lines);
    } else {
      expect(guest.code).toBe(2);
      expect(guest.stdout).toBe('');
      expect(guest.stderr).toMatch(/^gateway\.json: /);
    }
  });

  it('says a missing file is missing (exit 3)', async () => {
    const missing = await run(binary, ['gateway', join(dir, 'none.json')]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(missing).toMatchObject({ code: 3 });
    expect((missing as { stderr: string }).stderr).toContain("set it with 'mvm pool config set'");
  });
});
