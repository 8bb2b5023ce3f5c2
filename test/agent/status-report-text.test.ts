import { expect, it } from 'vitest';
import { coordinatorReporter } from '../../src/agent/reconcile/coordinator-reporter.ts';
import { coordinatorWorld } from '../support/coordinator-world.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN, fixedClock } from '../coordinator/api-client-harness.ts';

/**
 * An agent relays failure text it did not write (a command's stderr, with colour escapes or
 * a stray NUL). The contract refuses such characters, so the reporter must defang them, not
 * lose the report: the coordinator stores the failure, readable and within its length.
 */
await describeEachDatabase('agent status reports with hostile text', (db) => {
  it('reports a failure whose text holds escapes, NUL and bidi controls', async () => {
    const world = await coordinatorWorld(db.store(), {
      clock: fixedClock,
      randomSuffix: () => 'r1',
      admin: ADMIN,
      baseUrl: 'http://coordinator',
    });
    const api = world.client();
    await api.call('createTenant', { body: { id: 't1' } });
    const pool = { id: 'p1', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await api.call('createPool', { params: { tenant: 't1' }, body: pool });
    await api.call('scalePool', { params: { tenant: 't1', pool: 'p1' }, body: { running: 1 } });
    const capacity = { vcpus: 4, memMib: 4096, diskGib: 10 };
    await api.call('registerNode', {
      params: { node: 'n1' },
      body: { hostname: 'kvm-1', arch: 'x86_64', capacity },
    });
    await api.call('runScheduler', {});
    const [instance] = await api.call('listInstances', { query: { tenant: 't1' } });
    const ref = { tenantId: 't1', poolId: 'p1', instanceId: instance?.id ?? '' };
    const warnings: unknown[] = [];
    const reporter = coordinatorReporter(api, 'n1', {
      debug: () => undefined,
      info: () => undefined,
      warn: (obj: unknown) => warnings.push(obj),
      error: () => undefined,
    });
    const stderr = `qemu: \u001b[31mcannot open /dev/kvm\u001b[0m\u0000\n\u202Eevil${'x'.repeat(3000)}`;
    await reporter.report(ref, 'failed', `cold boot failed: ${stderr}`);
    expect(warnings).toEqual([]);
    const stored = await api.call('getInstance', {
      params: { tenant: 't1', pool: 'p1', instance: ref.instanceId },
    });
    expect(stored.status).toBe('failed');
    expect(stored.failureReason?.length).toBe(2000);
    expect(stored.failureReason).toMatch(
      /^cold boot failed: qemu: \ufffd\[31mcannot open \/dev\/kvm\ufffd\[0m\ufffd\n\ufffdevilx+$/,
    );
  });
});
