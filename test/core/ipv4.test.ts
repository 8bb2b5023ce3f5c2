import { describe, it, expect } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import {
  cidrLast,
  cidrSize,
  containsAddress,
  containsCidr,
  formatCidr,
  formatIpv4,
  isIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
  prefixMask,
} from '../../src/core/ipv4.ts';

describe('parseIpv4 / formatIpv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.240.0.1', 0x0af00001],
    ['255.255.255.255', 0xffffffff],
    ['192.168.1.10', 0xc0a8010a],
  ])('%s <-> %i', (text, value) => {
    expect(parseIpv4(text)).toBe(value);
    expect(formatIpv4(value)).toBe(text);
  });

  it.each([
    '',
    '10.240.0',
    '10.240.0.1.2',
    '10.240.0.256',
    '10.240.0.-1',
    '010.240.0.1',
    '10.240.00.1',
    ' 10.240.0.1',
    '10.240.0.1 ',
    '10.240..1',
    '0x0a.0.0.1',
    '1e1.0.0.1',
    '10.240.0.1/24',
    'a.b.c.d',
  ])('rejects %j', (text) => {
    expect(() => parseIpv4(text)).toThrow(ValidationError);
    expect(isIpv4(text)).toBe(false);
  });

  it('explains what an address looks like', () => {
    expect(() => parseIpv4('10.1')).toThrow(/'10.1' is not an IPv4 address; write four numbers/);
  });

  it.each([-1, 2 ** 32, 1.5, Number.NaN])('formatIpv4 rejects %d', (value) => {
    expect(() => formatIpv4(value)).toThrow(ValidationError);
  });
});

describe('parseCidr', () => {
  it('parses and formats', () => {
    expect(parseCidr('10.240.0.0/12')).toEqual({ network: 0x0af00000, prefix: 12 });
    expect(formatCidr(parseCidr('10.240.99.0/24'))).toBe('10.240.99.0/24');
    expect(parseCidr('0.0.0.0/0')).toEqual({ network: 0, prefix: 0 });
    expect(parseCidr('10.0.0.7/32')).toEqual({ network: 0x0a000007, prefix: 32 });
  });

  it.each([
    '10.240.0.0',
    '10.240.0.0/',
    '10.240.0.0/33',
    '10.240.0.0/012',
    '10.240.0.0/1/2',
    '/24',
    '10.240.0.0/a',
    '10.240.0.0/-1',
    '10.240.0.0/ 24',
  ])('rejects %j', (text) => {
    expect(() => parseCidr(text)).toThrow(ValidationError);
  });

  it('rejects host bits and suggests the network', () => {
    expect(() => parseCidr('10.240.99.5/24')).toThrow(
      "'10.240.99.5/24' has host bits set; did you mean 10.240.99.0/24?",
    );
    expect(() => parseCidr('10.241.0.0/12')).toThrow(/did you mean 10.240.0.0\/12\?/);
  });
});

describe('cidr math', () => {
  it('masks and sizes', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(12)).toBe(0xfff00000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(32)).toBe(0xffffffff);
    expect(cidrSize(24)).toBe(256);
    expect(cidrSize(0)).toBe(2 ** 32);
    expect(formatIpv4(cidrLast(parseCidr('10.240.0.0/12')))).toBe('10.255.255.255');
    expect(formatIpv4(cidrLast(parseCidr('0.0.0.0/0')))).toBe('255.255.255.255');
  });

  it('containment and overlap', () => {
    const cluster = parseCidr('10.240.0.0/12');
    expect(containsAddress(cluster, parseIpv4('10.255.255.255'))).toBe(true);
    expect(containsAddress(cluster, parseIpv4('11.0.0.0'))).toBe(false);
    expect(containsCidr(cluster, parseCidr('10.240.99.0/24'))).toBe(true);
    expect(containsCidr(cluster, cluster)).toBe(true);
    expect(containsCidr(parseCidr('10.240.99.0/24'), cluster)).toBe(false);
    expect(overlaps(cluster, parseCidr('10.0.0.0/8'))).toBe(true);
    expect(overlaps(parseCidr('10.240.1.0/24'), parseCidr('10.240.2.0/24'))).toBe(false);
  });
});
