import { expect, it } from 'vitest';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, type Api } from './api-client-harness.ts';

/**
 * `mvm instance sleep --force`: the force travels in the node's document, only with a sleep,
 * and ends with the next change of desired status. A node that had a busy guest refuse a
 * plain sleep reports it running with the refusal as its reason, which the next report
 * without one clears.
 */
const NODE = {
  hostname: 'kvm-1',
  arch: 'x86_64',
  capacity: { vcpus: 8, memMib: 8192, diskGib: 10 },
};

async function world(api: Api): Promise<string> {
  await api.call('POST', '/tenants', { body: { id: 'acme' } });
  await api.call('POST', '/tenants/acme/pools', {
    body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 },
  });
  await api.call('PUT', '/nodes/node-1', { body: NODE });
  const scaled = await api.call('POST', '/tenants/acme/pools/web/scale', { body: { running: 1 } });
  return (scaled.body as { created: Array<{ id: string }> }).created[0]?.id ?? '';
}

async function docInstance(api: Api) {
  const answer = await api.call('GET', '/nodes/node-1/desired');
  const doc = JSON.parse((answer.body as SignedEnvelope).payload) as NodeDesired;
  return doc.tenants[0]?.pools[0]?.instances[0];
}

await describeEachDatabase('forced sleep', (db) => {
  it('sends the force with the sleep only, and forgets it on the next change', async () => {
    const api = await apiOver(db.store());
    const id = await world(api);
    const act = (body: object) =>
      api.call('POST', `/tenants/acme/pools/web/instances/${id}/actions`, { body });

    expect((await act({ action: 'sleep' })).body).not.toHaveProperty('sleepForced');
    expect(await docInstance(api)).toEqual(
      expect.not.objectContaining({ forceSleep: expect.anything() }),
    );
    // Already asked to sleep: forcing it is still a change.
    const forced = await act({ action: 'sleep', force: true });
    expect(forced.body).toMatchObject({ desiredStatus: 'sleeping', sleepForced: true });
    expect(await docInstance(api)).toMatchObject({ desiredStatus: 'sleeping', forceSleep: true });
    expect((await act({ action: 'sleep', force: true })).body).toMatchObject({
      version: (forced.body as { version: number }).version,
    });

    await act({ action: 'wake' });
    expect(await docInstance(api)).toEqual(
      expect.not.objectContaining({ forceSleep: expect.anything() }),
    );
    await act({ action: 'sleep' });
    expect(await docInstance(api)).toEqual(
      expect.not.objectContaining({ forceSleep: expect.anything() }),
    );

    const refused = await act({ action: 'stop', force: true });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('force applies to sleep only');
    const events = (await api.call('GET', '/events?tenant=acme&last=10')).body as Array<{
      action: string;
      detail: Record<string, unknown>;
    }>;
    expect(events.find((e) => e.action === 'instance.sleep' && e.detail['force'])).toBeDefined();
  });

  it("keeps a busy guest's refusal as the reason of a running instance until the next report", async () => {
    const api = await apiOver(db.store());
    const id = await world(api);
    await api.call('POST', '/scheduler/run');
    const report = (body: object) =>
      api.call('PUT', `/nodes/node-1/instances/acme/web/${id}/status`, { body });
    await report({ status: 'running' });
    const reason = "instance 'acme/web/x' is still busy after a 10000 ms drain (commands: make)";
    const refused = await report({ status: 'running', failureReason: reason });
    expect(refused.body).toMatchObject({ status: 'running', failureReason: reason });
    expect((await report({ status: 'running', failureReason: reason })).body).toMatchObject({
      version: (refused.body as { version: number }).version,
    });
    expect((await report({ status: 'running' })).body).toMatchObject({
      status: 'running',
      failureReason: null,
    });
  });
});
