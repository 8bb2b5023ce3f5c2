import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  errorFromWire,
  errorMessage,
  HostError,
  isMvmError,
  StoreUnavailableError,
  ValidationError,
} from '../../src/core/errors.ts';

describe('the error hierarchy', () => {
  it('turns anything thrown into a message', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage(new HostError('mkfs failed'))).toBe('mkfs failed');
    expect(errorMessage('plain text')).toBe('plain text');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
  });

  it('keeps the error it wraps as cause, without putting it on the wire', () => {
    const root = Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' });
    const wrapped = new HostError('snapshot failed', { key: 'a/b/c' }, { cause: root });
    expect(wrapped.cause).toBe(root);
    expect(wrapped).toMatchObject({ code: 'host_failure', details: { key: 'a/b/c' } });
    expect(new ValidationError('bad', ['x'], { cause: root }).cause).toBe(root);
    expect(new ConflictError('raced', undefined, { cause: root }).cause).toBe(root);
    expect(new StoreUnavailableError('57P01', 3, { cause: root })).toMatchObject({
      cause: root,
      retryAfterSeconds: 3,
    });
    // What crosses the wire is code, message and details: the cause stays in the logs.
    expect(JSON.stringify(wrapped)).not.toContain('ENOSPC');
    expect(new HostError('no cause').cause).toBeUndefined();
  });

  it('rebuilds typed errors from their wire form, unknown codes as internal', () => {
    const known = errorFromWire('quota_exceeded', 'over', { tenantId: 't' });
    expect(isMvmError(known) && known.code).toBe('quota_exceeded');
    expect(errorFromWire('made_up', 'x').code).toBe('internal');
  });
});
