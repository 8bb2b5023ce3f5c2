import { ConflictError, ValidationError } from './errors.ts';
import { containsAddress, formatIpv4, parseCidr, parseIpv4 } from './ipv4.ts';
import type { Cidr } from './ipv4.ts';

/** Host octets inside a tenant /24: .0 network, .1 gateway, .2 builder, .255 broadcast. */
export const FIRST_INSTANCE_OCTET = 3;
export const LAST_INSTANCE_OCTET = 254;

export interface InstanceAddress {
  ip: string;
  mac: string;
}

export interface AllocateInstanceAddressInput {
  /** The tenant's /24, e.g. 10.240.99.0/24. */
  subnet: string;
  netId: number;
  /** Addresses already held in the subnet; entries outside it are ignored. */
  usedIps: readonly string[];
}

function invalid(problem: string): ValidationError {
  return new ValidationError(problem, [problem]);
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/**
 * `02:6d:76:<netId hi>:<netId lo>:<host>`: 02 marks it locally administered unicast and
 * 6d:76 spells "mv", so a MAC alone says which tenant and host octet it belongs to.
 */
export function macFor(netId: number, hostOctet: number): string {
  if (!Number.isInteger(netId) || netId < 0 || netId > 0xffff) {
    throw invalid(`net id ${netId} cannot be encoded in a MAC; it must be an integer 0-65535`);
  }
  if (!Number.isInteger(hostOctet) || hostOctet < 0 || hostOctet > 255) {
    throw invalid(`host octet ${hostOctet} must be an integer 0-255`);
  }
  return ['02', '6d', '76', hex2(netId >> 8), hex2(netId & 0xff), hex2(hostOctet)].join(':');
}

function parseTenantSubnet(subnet: string): Cidr {
  const cidr = parseCidr(subnet);
  if (cidr.prefix !== 24) {
    throw invalid(`tenant subnet '${subnet}' must be a /24 to hold instance addresses`);
  }
  return cidr;
}

function addressAt(cidr: Cidr, netId: number, hostOctet: number): InstanceAddress {
  return { ip: formatIpv4(cidr.network + hostOctet), mac: macFor(netId, hostOctet) };
}

function usedOctets(cidr: Cidr, usedIps: readonly string[]): Set<number> {
  const octets = new Set<number>();
  for (const text of usedIps) {
    const ip = parseIpv4(text);
    if (containsAddress(cidr, ip)) octets.add(ip - cidr.network);
  }
  return octets;
}

/** The lowest free address in .3-.254 and its MAC. */
export function allocateInstanceAddress(input: AllocateInstanceAddressInput): InstanceAddress {
  const cidr = parseTenantSubnet(input.subnet);
  const used = usedOctets(cidr, input.usedIps);
  for (let octet = FIRST_INSTANCE_OCTET; octet <= LAST_INSTANCE_OCTET; octet += 1) {
    if (!used.has(octet)) return addressAt(cidr, input.netId, octet);
  }
  const capacity = LAST_INSTANCE_OCTET - FIRST_INSTANCE_OCTET + 1;
  throw new ConflictError(
    `tenant subnet ${input.subnet} is full: all ${capacity} instance addresses (.${FIRST_INSTANCE_OCTET}-.${LAST_INSTANCE_OCTET}) are in use; destroy unused instances to free addresses`,
    { subnet: input.subnet, capacity },
  );
}
