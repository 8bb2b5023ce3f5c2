/**
 * What a rollout asks of a node, in a real guest (QEMU, TCG): an instance running one image
 * revision is pinned to another; the agent's pass stops it, takes the new spec and boots it on
 * the new image (reported with that revision), its workload runs with the new image's Env; pinned
 * to an image whose Cmd exits at once, the guest comes up and its workload's restarts climb,
 * which is what the node's heartbeat carries to the coordinator (a crash loop halts a rollout).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  desiredOf,
  observe,
  type NamedInstance,
} from '../../src/agent/reconcile/document-instances.ts';
import { runPlan } from '../../src/agent/reconcile/run-plan.ts';
import { devImageSource, workloadImageSource } from '../../src/agent/runtime/image-source.ts';
import type { WorkloadRootfs } from '../../src/agent/runtime/image-source.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { InstanceStatus } from '../../src/core/model.ts';
import { plan } from '../../src/core/reconcile-plan.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { buildDevImage } from '../../src/drivers/dev-image/build-dev-image.ts';
import { buildOciRootfs } from '../../src/drivers/image/oci-rootfs.ts';
import { execText } from '../support/exec-output.ts';
import { writeOciImage, type FixtureImage } from '../support/oci-fixture.ts';
import { webImage } from '../support/oci-images.ts';
import { testRunner } from '../support/qemu-guest.ts';
import { until } from '../support/until.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('rollout restarts in real guests');

describe.runIf(gate.run)('rollout restarts in real guests', () => {
  const web = ref('web1');
  const revisions = new Map<string, WorkloadRootfs>();
  let work: string;
  let dataDir: string;
  let agent: AgentHandle;
  const reports: Array<{ status: InstanceStatus; revision: string | undefined }> = [];

  const importImage = async (revision: string, image: FixtureImage): Promise<void> => {
    const layout = await writeOciImage(join(work, revision), image);
    const rootfs = await buildOciRootfs({
      ref: `oci:${layout.dir}:${layout.tag}`,
      cacheDir: join(work, 'cache'),
      runner: testRunner,
      logger: quietLogger,
      clock: systemClock,
    });
    revisions.set(revision, { rootfsPath: rootfs.rootfsPath, runSpecPath: rootfs.runSpec.path });
  };

  /** The document's one instance, pinned (or not) to `revision`. */
  const named = (revision: string, pinned: boolean): Map<string, NamedInstance> =>
    new Map([
      [
        'acme/web/web1',
        {
          ref: web,
          role: 'worker',
          desired: 'running',
          body: { spec: { ...workerSpec('10.240.99.31', '52:54:00:00:99:31'), revision } },
          forceSleep: false,
          pinned,
          replaceable: true,
        },
      ],
    ]);

  /** One reconcile pass, as the agent loop runs it (less the tenant network). */
  const pass = async (wanted: Map<string, NamedInstance>): Promise<string[]> => {
    const records = await agent.runtime.list();
    const planned = plan(desiredOf(wanted), observe(records, wanted));
    const reporter = {
      report: async (_: unknown, status: InstanceStatus, __?: string, revision?: string) => {
        reports.push({ status, revision });
      },
    };
    await runPlan({ runtime: agent.runtime, named: wanted, records, reporter }, planned);
    return planned.steps.map((s) => s.kind);
  };

  const greeting = async (): Promise<string> => {
    const record = await agent.runtime.get(web);
    if (!record.handle) throw new Error(`no VMM (status ${record.status})`);
    const out = await execText(agent.deps.guests.for(record.handle), {
      argv: ['sh', '-c', 'echo "$GREETING"'],
    });
    return out.stdout.trim();
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mvm-rollq-'));
    await importImage('rev-one', await webImage({ greeting: 'one' }));
    await importImage('rev-two', await webImage({ greeting: 'two' }));
    await importImage('rev-broken', await webImage({ cmd: ['/bin/false'] }));
    dataDir = await agentDataDir('rollout');
    const base = devImageSource(() => buildDevImage({ runner: testRunner }));
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'serve',
      logger: quietLogger,
      network: null,
      images: workloadImageSource(base, async (revision) => revisions.get(revision)),
    });
  }, 300_000);

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(web, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('boots on the first revision; the pool moving on alone restarts nothing', async () => {
    expect(await pass(named('rev-one', false))).toEqual(['put', 'prepare', 'boot']);
    expect(reports.at(-1)).toEqual({ status: 'running', revision: 'rev-one' });
    expect(await greeting()).toBe('one');
    // The pool's revision changes without a pin: the running VM stays, and says it runs rev-one.
    expect(await pass(named('rev-two', false))).toEqual([]);
    expect((await agent.runtime.get(web)).spec.revision).toBe('rev-one');
  }, 240_000);

  it('pinned to the second, it is stopped and booted again on it', async () => {
    expect(await pass(named('rev-two', true))).toEqual(['stop', 'put', 'prepare', 'boot']);
    expect(reports.at(-1)).toEqual({ status: 'running', revision: 'rev-two' });
    expect(await greeting()).toBe('two');
    const record = await agent.runtime.get(web);
    const workload = await until(
      'the workload running',
      async () => {
        const w = await agent.runtime.workloadStatus(record);
        return w?.state === 'running' ? w : undefined;
      },
      60_000,
      250,
    );
    expect(workload.restarts).toBe(0);
    // Pinned where it already is: nothing to do.
    expect(await pass(named('rev-two', true))).toEqual([]);
  }, 240_000);

  it('pinned to an image whose Cmd exits at once, its workload restarts over and over', async () => {
    expect(await pass(named('rev-broken', true))).toEqual(['stop', 'put', 'prepare', 'boot']);
    expect(reports.at(-1)).toEqual({ status: 'running', revision: 'rev-broken' });
    const record = await agent.runtime.get(web);
    // What the heartbeat samples: the count climbs (the state may catch a moment of `running`).
    const looping = await until(
      'the workload restarted 3 times',
      async () => {
        const w = await agent.runtime.workloadStatus(record);
        return w && w.restarts >= 3 ? w : undefined;
      },
      120_000,
      500,
    );
    expect(looping.restarts).toBeGreaterThanOrEqual(3);
    expect((await agent.runtime.get(web)).spec.revision).toBe('rev-broken');
  }, 240_000);
});
