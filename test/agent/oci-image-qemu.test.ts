/**
 * OCI images booted by the agent runtime in real guests (QEMU, TCG), one at a time: images
 * assembled offline, imported to a rootfs and a run-spec drive, named by a revision through
 * the image source. The web image's process runs as the workload service (its user, Env and
 * WorkingDir), serves its port, writes to `instance logs`, is started again when killed; exec
 * sees the image's files, Env and WorkingDir, not the whited-out file; the image drive is
 * never written. A distroless image (one static binary, no shell) boots to a ready agent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkloadStatus } from '../../src/contract/guest-protocol-v2.ts';
import { LOCAL_API_PREFIX } from '../../src/contract/agent-api.ts';
import { createAgentApp } from '../../src/agent/api.ts';
import { devImageSource, workloadImageSource } from '../../src/agent/runtime/image-source.ts';
import type { WorkloadRootfs } from '../../src/agent/runtime/image-source.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { buildDevImage } from '../../src/drivers/dev-image/build-dev-image.ts';
import { sha256File } from '../../src/drivers/fs/sha256-file.ts';
import { buildOciRootfs } from '../../src/drivers/image/oci-rootfs.ts';
import type { OciRootfs } from '../../src/drivers/image/oci-rootfs.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { runIn } from '../cli/support/run-cli.ts';
import { execText } from '../support/exec-output.ts';
import { writeOciImage } from '../support/oci-fixture.ts';
import type { FixtureImage } from '../support/oci-fixture.ts';
import { distrolessImage, webImage } from '../support/oci-images.ts';
import { testRunner } from '../support/qemu-guest.ts';
import { until } from '../support/until.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('OCI images in real guests');

describe.runIf(gate.run)('OCI images in real guests', () => {
  const web = ref('web1');
  const distroless = ref('bare1');
  const revisions = new Map<string, WorkloadRootfs>();
  const built = new Map<string, OciRootfs>();
  let work: string;
  let dataDir: string;
  let agent: AgentHandle;

  const importImage = async (revision: string, image: FixtureImage): Promise<void> => {
    const layout = await writeOciImage(join(work, revision), image);
    const rootfs = await buildOciRootfs({
      ref: `oci:${layout.dir}:${layout.tag}`,
      cacheDir: join(work, 'cache'),
      runner: testRunner,
      logger: quietLogger,
      clock: systemClock,
    });
    built.set(revision, rootfs);
    revisions.set(revision, { rootfsPath: rootfs.rootfsPath, runSpecPath: rootfs.runSpec.path });
  };
  const guest = (record: VmRecord) => {
    if (!record.handle) throw new Error(`no VMM handle (status ${record.status})`);
    return agent.deps.guests.for(record.handle);
  };
  const workloadOf = async (record: VmRecord): Promise<WorkloadStatus | undefined> =>
    (await guest(record).status()).workload;
  const serving = (record: VmRecord): Promise<WorkloadStatus> =>
    until(
      'the workload listening on its port',
      async () => {
        const w = await workloadOf(record);
        return w?.state === 'running' && w.ports.every((p) => p.listening) ? w : undefined;
      },
      60_000,
      250,
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mvm-ociq-'));
    await importImage('oci-web', await webImage());
    await importImage('oci-distroless', await distrolessImage());
    dataDir = await agentDataDir('oci');
    const base = devImageSource(() => buildDevImage({ runner: testRunner }));
    // Serving: `mvm instance logs` reaches it on its socket, as on a host.
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'serve',
      logger: quietLogger,
      network: null,
      images: workloadImageSource(base, async (revision) => revisions.get(revision)),
    });
  }, 300_000);

  afterAll(async () => {
    if (agent) {
      for (const r of [web, distroless])
        await agent.runtime.act(r, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('a web server image', () => {
    let record: VmRecord;

    beforeAll(async () => {
      await agent.runtime.put(web, {
        spec: { ...workerSpec('10.240.99.21', '52:54:00:00:99:21'), revision: 'oci-web' },
      });
      record = await agent.runtime.act(web, 'start');
    }, 240_000);

    it('boots with the image as its root: an overlay on the read-only image drive', async () => {
      expect(record.status).toBe('running');
      const mounts = await execText(guest(record), { argv: ['cat', '/proc/mounts'] });
      expect(mounts.stdout).toMatch(/^overlay \/ overlay rw/m);
      expect(mounts.stdout).toMatch(/^\/dev\/vd\w+ \/mvm ext4 ro/m);
      expect(mounts.stdout).toMatch(/^\/dev\/vd\w+ \/mvm\/run ext4 ro/m);
    });

    it('runs the image process as the workload service, serving its port', async () => {
      const w = await serving(record);
      expect(w).toMatchObject({
        state: 'running',
        restarts: 0,
        ports: [{ port: 8080, listening: true }],
      });
      const page = await execText(guest(record), {
        argv: ['wget', '-qO-', 'http://127.0.0.1:8080/index.html'],
      });
      expect(page.stdout).toBe('served by the image\n');
    });

    it("the workload's output is in its logs, through the runtime and the local API", async () => {
      const logs = await agent.runtime.workloadLogs(web, { tail: 50 });
      expect(logs.text).toContain('workload up: hello from /app as 1000\n');
      const app = createAgentApp(agent.runtime, agent.deps, quietLogger);
      const res = await app.request(
        `${LOCAL_API_PREFIX}/tenants/acme/pools/web/instances/web1/workload-logs?tail=5`,
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { text: string; end: number };
      expect(body.text).toContain('workload up: hello');
      expect(body.end).toBe(logs.end);
      const bad = await app.request(
        `${LOCAL_API_PREFIX}/tenants/acme/pools/web/instances/web1/workload-logs?tail=0`,
      );
      expect(bad.status).toBe(400);
    });

    it('mvm agent instance logs prints the tail; --follow prints what comes after', async () => {
      const env = { MVM_DATA_DIR: dataDir, MVM_NETWORK: 'off' };
      const tail = await runIn(['agent', 'instance', 'logs', 'acme/web/web1', '--tail', '50'], {
        env,
      });
      expect(tail.stderr).toBe('');
      expect(tail.stdout).toContain('workload up: hello from /app as 1000\n');
      let stop: (signal: string) => void = () => undefined;
      const following = runIn(
        ['agent', 'instance', 'logs', 'acme/web/web1', '--follow', '--tail', '1'],
        {
          env,
          untilShutdown: () => new Promise((resolve) => (stop = resolve)),
        },
      );
      await sleep(1_500);
      await execText(guest(record), {
        argv: ['sh', '-c', 'wget -qO- http://127.0.0.1:8080/follow-marker || true'],
      });
      await sleep(2_500);
      stop('SIGINT');
      const followed = await following;
      expect(followed.code).toBe(0);
      expect(followed.stdout).toMatch(/url:\/follow-marker\n.*response:404\n/);
    });

    it("exec sees the image's files, Env and WorkingDir, and not the whited-out file", async () => {
      const g = guest(record);
      const env = await execText(g, { argv: ['sh', '-c', 'echo "$GREETING"; pwd; cat message'] });
      expect(env.stdout).toBe('hello\n/app\nfrom the image\n');
      expect((await execText(g, { argv: ['cat', '/etc/b'] })).stdout).toBe('b\n');
      const gone = await execText(g, { argv: ['test', '-e', '/etc/a'] });
      expect(gone.exit.code).toBe(1);
      const etc = await execText(g, { argv: ['sh', '-c', 'ls /etc'] });
      expect(etc.stdout.split(/\s+/).filter(Boolean).sort()).toEqual([
        'b',
        'group',
        'mvm-config',
        'passwd',
      ]);
    });

    it('a killed workload is started again and says so in its log', async () => {
      const before = await serving(record);
      const kill = await execText(guest(record), { argv: ['sh', '-c', `kill -9 ${before.pid}`] });
      expect(kill.exit.code).toBe(0);
      const after = await until(
        'the workload started again',
        async () => {
          const w = await serving(record);
          return w.pid !== before.pid ? w : undefined;
        },
        60_000,
        250,
      );
      expect(after.restarts).toBe(1);
      expect(after.pid).not.toBe(before.pid);
      expect(after.last_exit).toMatchObject({ code: 137, signal: 'KILL' });
      const logs = await agent.runtime.workloadLogs(web, { tail: 20 });
      expect(logs.text).toMatch(/\[mvm\] workload exited \(signal 9\)/);
      expect(logs.text.match(/workload up: hello/g)).toHaveLength(2);
    });

    it('writes in the guest never reach the image drive', async () => {
      await execText(guest(record), {
        argv: ['sh', '-c', 'echo scribble > /etc/b; rm /srv/www/index.html'],
      });
      expect((await execText(guest(record), { argv: ['cat', '/etc/b'] })).stdout).toBe(
        'scribble\n',
      );
      record = await agent.runtime.act(web, 'stop');
      const rootfs = built.get('oci-web');
      expect(await sha256File(rootfs?.rootfsPath ?? '')).toBe(rootfs?.rootfsSha256);
    }, 60_000);
  });

  describe('a distroless image (one static binary, no shell)', () => {
    let record: VmRecord;

    beforeAll(async () => {
      await agent.runtime.put(distroless, {
        spec: { ...workerSpec('10.240.99.22', '52:54:00:00:99:22'), revision: 'oci-distroless' },
      });
      record = await agent.runtime.act(distroless, 'start');
    }, 240_000);

    it('boots to a ready agent and runs its one binary as the image user', async () => {
      expect(record.status).toBe('running');
      expect(await guest(record).ping()).toMatchObject({ ready: true });
      const w = await serving(record);
      expect(w.ports).toEqual([{ port: 8080, listening: true }]);
      const page = await execText(guest(record), {
        argv: ['/mvm/bin/wget', '-qO-', 'http://127.0.0.1:8080/index.html'],
      });
      expect(page.stdout).toBe('distroless\n');
      const owner = await execText(guest(record), {
        argv: ['/mvm/bin/sh', '-c', `/mvm/bin/stat -c %u /proc/${w.pid}`],
      });
      expect(owner.stdout).toBe('65534\n');
    });

    it('has no shell of its own: exec of sh finds none on the image PATH', async () => {
      const sh = await execText(guest(record), { argv: ['sh', '-c', 'true'] });
      expect(sh.exit.code).toBe(127);
    });
  });
});
