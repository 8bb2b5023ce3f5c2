import { ValidationError } from './errors.ts';

/** An IPv4 network: `network` is the 32-bit unsigned base address, host bits all zero. */
export interface Cidr {
  network: number;
  prefix: number;
}

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const PREFIX = /^(?:0|[1-9][0-9]?)$/;

function invalid(problem: string): ValidationError {
  return new ValidationError(problem, [problem]);
}

/** Strict dotted quad: four decimal octets, no leading zeros (they read as octal elsewhere). */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  const octets = parts.map((part) => (OCTET.test(part) ? Number(part) : Number.NaN));
  if (parts.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) {
    throw invalid(`'${text}' is not an IPv4 address; write four numbers 0-255 like 10.240.0.1`);
  }
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * An address one host can reach another at: a dotted quad that is not unspecified (0/8),
 * loopback (127/8), multicast or reserved (224 and up).
 */
export function isUnicastIpv4(text: string): boolean {
  if (!isIpv4(text)) return false;
  const first = Number(text.split('.')[0]);
  return first !== 0 && first !== 127 && first < 224;
}

export function formatIpv4(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw invalid(`${value} is not a 32-bit IPv4 address`);
  }
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** The netmask for `prefix` as an unsigned 32-bit number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses a prefix covers. */
export function cidrSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Strict `a.b.c.d/p`; host bits must be zero so a typo never silently widens a network. */
export function parseCidr(text: string): Cidr {
  const [address = '', prefixText, ...rest] = text.split('/');
  if (prefixText === undefined || rest.length > 0 || !PREFIX.test(prefixText)) {
    throw invalid(`'${text}' is not a CIDR; write an address and a prefix like 10.240.0.0/12`);
  }
  const prefix = Number(prefixText);
  if (prefix > 32) throw invalid(`'${text}' has prefix /${prefix}; an IPv4 prefix is 0-32`);
  const ip = parseIpv4(address);
  const network = (ip & prefixMask(prefix)) >>> 0;
  if (network !== ip) {
    throw invalid(`'${text}' has host bits set; did you mean ${formatCidr({ network, prefix })}?`);
  }
  return { network, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** Last address of the network (its broadcast address). */
export function cidrLast(cidr: Cidr): number {
  return cidr.network + cidrSize(cidr.prefix) - 1;
}

export function containsAddress(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.network && ip <= cidrLast(cidr);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && containsAddress(outer, inner.network);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.network <= cidrLast(b) && b.network <= cidrLast(a);
}
