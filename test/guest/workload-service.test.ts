/**
 * The workload service and the `logs` op of the real static mvm-agent, run on the host
 * (no VM): a run spec like the one the run-spec drive carries, `mvm-agent workload` as
 * mvm's init starts it, and the agent's status, logs and exec beside it, sharing one state
 * dir. test/guest/oci-image-qemu.test.ts runs the same through a real guest.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSpec } from '../../src/contract/oci-image.ts';
import type { WorkloadStatus } from '../../src/contract/guest-protocol-v2.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { readWorkloadLog, tailWorkloadLog } from '../../src/drivers/guest-channel/workload-log.ts';
import { runSpecBytes } from '../../src/drivers/image/run-spec-drive.ts';
import { execText } from '../support/exec-output.ts';
import { alive, startHostAgent } from '../support/host-agent.ts';
import type { HostAgent } from '../support/host-agent.ts';
import { until } from '../support/until.ts';
import { freePort } from '../support/free-port.ts';

interface Scenario {
  agent: HostAgent;
  service: ChildProcess;
  client: GuestAgentClient;
  cwd: string;
}

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

/** The agent and the workload service over one state dir, with `spec` as the run spec. */
async function scenario(
  spec: Omit<RunSpec, 'version' | 'cwd'> & { cwd?: string },
): Promise<Scenario> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-wl-'));
  const cwd = spec.cwd ?? join(dir, 'app');
  await mkdir(join(dir, 'app'));
  const specFile = join(dir, 'run.json');
  await writeFile(specFile, runSpecBytes({ version: 1, ...spec, cwd }));
  const agent = await startHostAgent({ MVM_RUN_SPEC: specFile });
  const service = spawn(agent.binary, ['workload'], {
    env: { MVM_STATE_DIR: agent.stateDir, MVM_RUN_SPEC: specFile, PATH: '/usr/bin:/bin' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client = new GuestAgentClient(unixSocketTransport(agent.socket), {
    requestTimeoutMs: 5_000,
  });
  running.push(async () => {
    client.close();
    service.kill('SIGKILL');
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { agent, service, client, cwd };
}

async function workload(client: GuestAgentClient): Promise<WorkloadStatus> {
  const status = await client.status();
  if (!status.workload) throw new Error('the status has no workload');
  return status.workload;
}

describe('workload service (mvm-agent workload) on the host', () => {
  it('a crashing process is started again with a growing backoff; its output is in the log', async () => {
    const s = await scenario({
      argv: ['sh', '-c', 'echo "started $GREETING in $(pwd)"; echo oops >&2; exit 3'],
      env: { PATH: '/usr/bin:/bin', GREETING: 'hi' },
      user: '',
      ports: [],
    });
    const after = await until(
      'two restarts',
      async () => {
        const w = await workload(s.client);
        return w.restarts >= 2 && w.state === 'backoff' ? w : undefined;
      },
      15_000,
      100,
    );
    expect(after.last_exit).toMatchObject({ code: 3, signal: '' });
    expect(after.backoff_ms).toBeGreaterThanOrEqual(2_000);
    const log = await tailWorkloadLog(s.client, 100);
    expect(log.text).toContain(`started hi in ${s.cwd}\noops\n`);
    expect(log.text).toMatch(
      /\[mvm\] workload exited \(code 3\) after \d+ ms; starting it again in 2000 ms/,
    );
    expect(log.first).toBe(0);
    expect(log.end).toBe(Buffer.byteLength(log.text) + log.start);
    // What comes after a position: nothing new past the end, all of it from 0.
    expect((await readWorkloadLog(s.client, log.end)).text).toBe('');
    expect((await readWorkloadLog(s.client, 0)).text.startsWith('started hi')).toBe(true);
  });

  it('exec runs with the image Env and WorkingDir unless the request says otherwise', async () => {
    const s = await scenario({
      argv: ['sleep', '600'],
      env: { PATH: '/usr/bin:/bin', GREETING: 'from-image' },
      user: '',
      ports: [],
    });
    const plain = await execText(s.client, { argv: ['sh', '-c', 'echo $GREETING; pwd'] });
    expect(plain.stdout).toBe(`from-image\n${s.cwd}\n`);
    const overridden = await execText(s.client, {
      argv: ['sh', '-c', 'echo $GREETING; pwd'],
      env: { GREETING: 'asked' },
      cwd: '/',
    });
    expect(overridden.stdout).toBe('asked\n/\n');
    const w = await until(
      'the sleep running',
      async () => {
        const status = await workload(s.client);
        return status.state === 'running' ? status : undefined;
      },
      10_000,
    );
    expect(w).toMatchObject({ restarts: 0 });
    expect(w.running_for_ms).toBeGreaterThanOrEqual(0);
  });

  it('runs as the image user, reports its port listening, and dies with its service', async () => {
    const port = await freePort();
    const s = await scenario({
      argv: ['sh', '-c', `echo "uid $(id -u)"; exec busybox httpd -f -p 127.0.0.1:${port} -h /`],
      env: { PATH: '/usr/bin:/bin' },
      user: 'nobody',
      ports: [port],
    });
    const w = await until(
      'the port listening',
      async () => {
        const status = await workload(s.client);
        return status.ports[0]?.listening ? status : undefined;
      },
      15_000,
    );
    expect(w).toMatchObject({ state: 'running', ports: [{ port, listening: true }] });
    expect((await tailWorkloadLog(s.client, 10)).text).toContain('uid 65534\n');
    s.service.kill('SIGKILL');
    await until(
      'the workload gone with its service',
      () => (alive(w.pid) ? undefined : true),
      5_000,
    );
  });

  it('the log is bounded: it rotates, positions carry on, the tail reads across files', async () => {
    const s = await scenario({
      argv: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 30000 ]; do echo "line $i ........................................................................"; i=$((i+1)); done; echo done; exec sleep 600',
      ],
      env: { PATH: '/usr/bin:/bin' },
      user: '',
      ports: [],
    });
    const tail = await until(
      'all lines written',
      async () => {
        const view = await tailWorkloadLog(s.client, 3);
        return view.text.endsWith('done\n') ? view : undefined;
      },
      60_000,
      250,
    );
    expect(tail.text).toMatch(/^line 29998 \.+\nline 29999 \.+\ndone\n$/);
    expect(tail.first).toBeGreaterThan(0);
    expect(tail.end - tail.first).toBeLessThanOrEqual(2 * 1024 * 1024);
    // A reader far behind is moved up to what is kept, and learns it.
    const behind = await readWorkloadLog(s.client, 0);
    expect(behind.start).toBe(tail.first);
    expect(behind.text.length).toBeGreaterThan(40_000);
    // Across the rotation boundary, a long tail is whole lines in order.
    const long = await tailWorkloadLog(s.client, 15_000);
    const lines = long.text.trimEnd().split('\n');
    expect(lines).toHaveLength(15_000);
    expect(lines.at(-2)).toMatch(/^line 29999 /);
    expect(lines[0]).toMatch(/^line 15001 /);
  });
});
