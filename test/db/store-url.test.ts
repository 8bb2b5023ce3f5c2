import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { parseStoreUrl, redactStoreUrl, withDatabase } from '../../src/db/store-url.ts';

describe('parseStoreUrl', () => {
  it.each([
    [
      'postgres://u:p@h:5432/db',
      { dialect: 'postgres', connectionString: 'postgres://u:p@h:5432/db' },
    ],
    ['postgresql://h/db', { dialect: 'postgres', connectionString: 'postgresql://h/db' }],
    ['/var/lib/mvm/state.sqlite', { dialect: 'sqlite', path: '/var/lib/mvm/state.sqlite' }],
    ['state/mvm.sqlite', { dialect: 'sqlite', path: 'state/mvm.sqlite' }],
    ['sqlite:state/mvm.sqlite', { dialect: 'sqlite', path: 'state/mvm.sqlite' }],
    ['sqlite:///var/mvm.sqlite', { dialect: 'sqlite', path: '/var/mvm.sqlite' }],
    ['file:/var/mvm.sqlite', { dialect: 'sqlite', path: '/var/mvm.sqlite' }],
    ['file:///var/mvm.sqlite', { dialect: 'sqlite', path: '/var/mvm.sqlite' }],
    [':memory:', { dialect: 'sqlite', path: ':memory:' }],
    ['sqlite::memory:', { dialect: 'sqlite', path: ':memory:' }],
  ])('%s', (url, expected) => {
    expect(parseStoreUrl(url)).toEqual(expected);
  });

  it('refuses a URL without a database', () => {
    expect(() => parseStoreUrl('sqlite:')).toThrow(ValidationError);
  });

  it.each(['ftp://x', 'mysql://u:secret@h/db', 'HTTP://h/db'])(
    'refuses %s: a scheme that is neither Postgres nor an SQLite file',
    (url) => {
      expect(() => parseStoreUrl(url)).toThrow(ValidationError);
      expect(() => parseStoreUrl(url)).not.toThrow(/secret/);
    },
  );
});

describe('redactStoreUrl', () => {
  it('masks the password and nothing else', () => {
    expect(redactStoreUrl('postgres://mvm:secret@db:5432/mvm')).toBe(
      'postgres://mvm:***@db:5432/mvm',
    );
    expect(redactStoreUrl('/var/mvm.sqlite')).toBe('/var/mvm.sqlite');
  });

  it('masks the password of a Unix socket URL, after the user or as a parameter', () => {
    expect(redactStoreUrl('postgres://mvm:secret@/mvm?host=/var/run/postgresql')).toBe(
      'postgres://mvm:***@/mvm?host=/var/run/postgresql',
    );
    expect(
      redactStoreUrl('postgresql:///mvm?host=/var/run/postgresql&user=mvm&password=secret&x=1'),
    ).toBe('postgresql:///mvm?host=/var/run/postgresql&user=mvm&password=***&x=1');
    expect(redactStoreUrl('postgres://mvm@db/mvm')).toBe('postgres://mvm@db/mvm');
  });

  it('keeps a Unix socket URL as pg reads it, the pool size taken out', () => {
    expect(
      parseStoreUrl('postgres://mvm:p@/mvm?host=/var/run/postgresql&pool_max=40&port=5432'),
    ).toEqual({
      dialect: 'postgres',
      connectionString: 'postgres://mvm:p@/mvm?host=/var/run/postgresql&port=5432',
      poolMax: 40,
    });
  });

  it('takes the Postgres pool size out of the URL, and refuses a bad one', () => {
    expect(parseStoreUrl('postgres://u:p@db/mvm?pool_max=30')).toEqual({
      dialect: 'postgres',
      connectionString: 'postgres://u:p@db/mvm',
      poolMax: 30,
    });
    expect(parseStoreUrl('postgres://u:p@db/mvm?a=1&pool_max=5&b=2')).toMatchObject({
      connectionString: 'postgres://u:p@db/mvm?a=1&b=2',
      poolMax: 5,
    });
    expect(parseStoreUrl('postgres://u:p@db/mvm?pool_max=5&sslmode=disable')).toMatchObject({
      connectionString: 'postgres://u:p@db/mvm?sslmode=disable',
    });
    expect(parseStoreUrl('postgres://u:p@db/mvm')).not.toHaveProperty('poolMax');
    for (const bad of ['0', '201', 'ten', '']) {
      expect(() => parseStoreUrl(`postgres://u:secret@db/mvm?pool_max=${bad}`)).toThrow(
        /pool_max must be a whole number from 1 to 200/,
      );
    }
    expect(() => parseStoreUrl('postgres://u:secret@db/mvm?pool_max=0')).not.toThrow(/secret/);
  });
});

describe('withDatabase', () => {
  it.each([
    ['postgres://u:p@h:5432/postgres', 'postgres://u:p@h:5432/other'],
    ['postgres://u:p@h', 'postgres://u:p@h/other'],
    [
      'postgres://u:p@/postgres?host=/var/run/postgresql',
      'postgres://u:p@/other?host=/var/run/postgresql',
    ],
    ['postgresql:///postgres?host=/tmp&user=u', 'postgresql:///other?host=/tmp&user=u'],
  ])('%s names the database other', (url, expected) => {
    expect(withDatabase(url, 'other')).toBe(expected);
  });
});
