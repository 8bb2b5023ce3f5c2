import { describe, expect, it } from 'vitest';
import { workerSandboxDefault, type SandboxNode } from '../../src/core/worker-sandbox-default.ts';

const node = (id: string, status: string, workerExec?: boolean): SandboxNode => ({
  id,
  status,
  usage: workerExec === undefined ? null : { workerExec },
});

describe('the worker sandbox chosen by itself', () => {
  it('is on only when every ready node runs worker exec', () => {
    expect(workerSandboxDefault([node('a', 'ready', true), node('b', 'ready', true)])).toEqual({
      on: true,
      why: 'worker exec is on on every ready node (2)',
    });
    // Lost and cordoned nodes host no new gateway: they do not count.
    expect(
      workerSandboxDefault([node('a', 'ready', true), node('b', 'lost'), node('c', 'cordoned')]),
    ).toMatchObject({ on: true });
  });

  it('stays off when a ready node lacks it, naming it, or when no node is ready', () => {
    expect(workerSandboxDefault([node('a', 'ready', true), node('b', 'ready', false)])).toEqual({
      on: false,
      why: 'worker exec is off on 1 ready node(s): b',
    });
    expect(workerSandboxDefault([node('a', 'ready'), node('b', 'ready', true)])).toMatchObject({
      on: false,
    });
    expect(workerSandboxDefault([])).toEqual({
      on: false,
      why: 'no ready node reports worker exec',
    });
    expect(workerSandboxDefault([node('a', 'lost', true)])).toMatchObject({ on: false });
  });
});
