import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** A mode that was loosened beyond what its file may have, and what it became. */
export interface Tightened {
  path: string;
  from: string;
  to: string;
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * Takes from `path` every permission bit `allowed` lacks (0755 with 0700 becomes 0700) and
 * says so; a missing path or one already tight enough is left alone.
 */
export function tightenMode(path: string, allowed: number): Tightened | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if ((mode & ~allowed) === 0) return undefined;
  const next = mode & allowed;
  chmodSync(path, next);
  return { path, from: octal(mode), to: octal(next) };
}

/** A directory only its owner may enter: created 0700, or tightened to it. */
export function privateDir(path: string): Tightened | undefined {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return tightenMode(path, 0o700);
}

/**
 * An SQLite database only its owner may read: its directory is created 0700, the file 0600
 * before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode), and
 * an older install's looser database, -wal, -shm and -journal files are tightened to 0600.
 */
export function privateSqliteFile(path: string): Tightened[] {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]
    .map((file) => tightenMode(file, 0o600))
    .filter((tightened) => tightened !== undefined);
}
