import { ValidationError } from './errors.ts';

/** Every id mvm accepts: lowercase letters, digits and dashes, 1..63, no dash at either end. */
export const ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidId(value: string): boolean {
  return ID_PATTERN.test(value);
}

export function idProblem(kind: string, value: string): string | undefined {
  if (isValidId(value)) return undefined;
  return `${kind} id '${value}' is invalid: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'`;
}

export function assertId(kind: string, value: string): string {
  const problem = idProblem(kind, value);
  if (problem) throw new ValidationError(problem, [problem]);
  return value;
}

export interface PoolRef {
  tenantId: string;
  poolId: string;
}
export interface InstanceRef extends PoolRef {
  instanceId: string;
}

function splitPath(kind: string, path: string, parts: number): string[] {
  const segments = path.split('/');
  if (segments.length !== parts) {
    const shape = ['<tenant>', '<pool>', '<instance>'].slice(0, parts).join('/');
    throw new ValidationError(`${kind} path '${path}' must look like ${shape}`);
  }
  return segments;
}

/** Parses `tenant/pool`. */
export function parsePoolPath(path: string): PoolRef {
  const [tenantId = '', poolId = ''] = splitPath('pool', path, 2);
  return { tenantId: assertId('tenant', tenantId), poolId: assertId('pool', poolId) };
}

/** Parses `tenant/pool/instance`. */
export function parseInstancePath(path: string): InstanceRef {
  const [tenantId = '', poolId = '', instanceId = ''] = splitPath('instance', path, 3);
  return {
    tenantId: assertId('tenant', tenantId),
    poolId: assertId('pool', poolId),
    instanceId: assertId('instance', instanceId),
  };
}
