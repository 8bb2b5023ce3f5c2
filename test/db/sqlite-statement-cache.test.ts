import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { cachedStatements } from '../../src/db/sqlite-statement-cache.ts';

let open: Database.Database[] = [];
afterEach(() => {
  for (const db of open) if (db.open) db.close();
  open = [];
});

function database(): Database.Database {
  const db = new Database(':memory:');
  open.push(db);
  db.exec('create table t (id integer primary key, name text)');
  return db;
}

it('prepares a statement once and reuses it, with fresh parameters each run', () => {
  const cache = cachedStatements(database());
  const insert = cache.prepare('insert into t (name) values (?)');
  insert.run(['a']);
  expect(cache.prepare('insert into t (name) values (?)')).toBe(insert);
  cache.prepare('insert into t (name) values (?)').run(['b']);
  const select = cache.prepare('select name from t where id = ?');
  expect(select.all([1])).toEqual([{ name: 'a' }]);
  expect(cache.prepare('select name from t where id = ?').all([2])).toEqual([{ name: 'b' }]);
  expect(cache.cached()).toBe(2);
});

it('keeps at most its size, dropping the least recently used', () => {
  const cache = cachedStatements(database(), 2);
  const one = cache.prepare('select 1');
  const two = cache.prepare('select 2');
  expect(cache.prepare('select 1')).toBe(one); // now the most recent
  cache.prepare('select 3'); // evicts `select 2`
  expect(cache.cached()).toBe(2);
  expect(cache.prepare('select 1')).toBe(one);
  expect(cache.prepare('select 2')).not.toBe(two);
});

it('hands out a fresh statement while the cached one is open in an iterator', () => {
  const db = database();
  db.exec("insert into t (name) values ('a'), ('b')");
  const cache = cachedStatements(db);
  const sql = 'select name from t order by id';
  const iterating = cache.prepare(sql);
  const rows = iterating.iterate([]);
  expect(rows.next().value).toEqual({ name: 'a' });
  const other = cache.prepare(sql);
  expect(other).not.toBe(iterating);
  expect(other.all([])).toEqual([{ name: 'a' }, { name: 'b' }]);
  rows.return?.();
  expect(cache.prepare(sql)).toBe(iterating);
});

it('sees a column added after the statement was cached', () => {
  const db = database();
  const cache = cachedStatements(db);
  db.exec("insert into t (name) values ('a')");
  expect(cache.prepare('select * from t').all([])).toEqual([{ id: 1, name: 'a' }]);
  db.exec("alter table t add column role text not null default 'web'");
  expect(cache.prepare('select * from t').all([])).toEqual([{ id: 1, name: 'a', role: 'web' }]);
});

it('closes the database', () => {
  const db = database();
  cachedStatements(db).close();
  expect(db.open).toBe(false);
});
