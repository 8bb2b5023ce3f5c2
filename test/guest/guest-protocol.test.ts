import { describe, expect, it } from 'vitest';
import {
  GuestEnvelopeSchema,
  GuestErrorResponseSchema,
  GuestRequestSchema,
  PingResponseSchema,
  StatusResponseSchema,
} from '../../src/contract/guest-protocol.ts';

describe('guest protocol schemas', () => {
  it('accepts the four ops and wake with a time', () => {
    for (const op of ['ping', 'status', 'sleep-prep', 'wake']) {
      expect(GuestRequestSchema.parse({ id: 1, op })).toEqual({ id: 1, op });
    }
    expect(GuestRequestSchema.parse({ id: 2, op: 'wake', now: 1700000000 }).now).toBe(1700000000);
  });

  it('rejects unknown ops and bad ids', () => {
    expect(GuestRequestSchema.safeParse({ id: 1, op: 'exec' }).success).toBe(false);
    expect(GuestRequestSchema.safeParse({ id: -1, op: 'ping' }).success).toBe(false);
    expect(GuestRequestSchema.safeParse({ id: 1.5, op: 'ping' }).success).toBe(false);
  });

  it('parses a status reply as the agent prints it', () => {
    const line =
      '{"id":2,"ok":true,"uptime_s":6.22,"counter":3,"hostname":"vm1","ip":"10.0.0.2","boot_id":"84ff86ab-c157-43c1-861b-9105ee1adc99"}';
    expect(StatusResponseSchema.parse(JSON.parse(line))).toMatchObject({
      counter: 3,
      uptime_s: 6.22,
    });
    expect(StatusResponseSchema.safeParse({ id: 2, ok: true, counter: 3 }).success).toBe(false);
  });

  it('routes any reply by its envelope, errors included', () => {
    expect(GuestEnvelopeSchema.parse({ id: 5, ok: true, ready: true })).toMatchObject({ id: 5 });
    expect(
      GuestErrorResponseSchema.parse({ id: null, ok: false, error: 'unknown op' }).id,
    ).toBeNull();
    expect(PingResponseSchema.safeParse({ id: 1, ok: true, ready: false }).success).toBe(false);
  });
});
