import type { MvmError } from '../core/errors.ts';

/**
 * Turns the database's constraint violations into domain errors, the same way on both dialects.
 * SQLite (better-sqlite3) reports `SQLITE_CONSTRAINT_*` codes and names the columns in the
 * message; Postgres reports SQLSTATE 23505/23503 with the constraint's name.
 */
export interface UniqueRule {
  /** Constraint name as created by the migration (what Postgres reports). */
  constraint: string;
  /** Its columns (what SQLite reports). */
  columns: readonly string[];
  error: () => MvmError;
}

export interface ConstraintRules {
  /** Primary key and unique constraints. */
  unique?: readonly UniqueRule[];
  /** A foreign key failed: a missing parent on insert, existing children on delete. */
  foreignKey?: () => MvmError;
}

type Violation =
  { kind: 'unique'; constraint?: string; columns?: readonly string[] } | { kind: 'foreign_key' };

/** Returns the domain error for a known violation, or the original error untouched. */
export function translateConstraintError(error: unknown, rules: ConstraintRules): unknown {
  const violation = classify(error);
  if (violation === undefined) return error;
  if (violation.kind === 'foreign_key') return rules.foreignKey?.() ?? error;
  const rule = rules.unique?.find((r) => matches(r, violation));
  return rule ? rule.error() : error;
}

function matches(
  rule: UniqueRule,
  violation: { constraint?: string; columns?: readonly string[] },
) {
  if (violation.constraint !== undefined) return rule.constraint === violation.constraint;
  const columns = violation.columns ?? [];
  return columns.length === rule.columns.length && rule.columns.every((c) => columns.includes(c));
}

function classify(error: unknown): Violation | undefined {
  if (!(error instanceof Error) || !('code' in error) || typeof error.code !== 'string') {
    return undefined;
  }
  return error.code.startsWith('SQLITE_')
    ? classifySqlite(error.code, error.message)
    : classifyPostgres(error.code, stringProp(error, 'constraint'));
}

function classifyPostgres(code: string, constraint: string | undefined): Violation | undefined {
  if (code === '23505') return { kind: 'unique', constraint };
  if (code === '23503') return { kind: 'foreign_key' };
  return undefined;
}

function classifySqlite(code: string, message: string): Violation | undefined {
  // A missing parent fails as SQLITE_CONSTRAINT_FOREIGNKEY, ON DELETE RESTRICT as _TRIGGER.
  if (code.startsWith('SQLITE_CONSTRAINT') && message.includes('FOREIGN KEY constraint failed')) {
    return { kind: 'foreign_key' };
  }
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return { kind: 'unique', columns: sqliteColumns(message) };
  }
  return undefined;
}

/** "UNIQUE constraint failed: instances.tenant_id, instances.ip" → ["tenant_id", "ip"] */
function sqliteColumns(message: string): string[] {
  const list = message.split('constraint failed:')[1] ?? '';
  return list
    .split(',')
    .map((part) => part.trim().split('.').pop() ?? '')
    .filter((column) => column !== '');
}

function stringProp(error: Error, name: string): string | undefined {
  const value: unknown = (error as unknown as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
