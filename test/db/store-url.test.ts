import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { parseStoreUrl, redactStoreUrl } from '../../src/db/store-url.ts';

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
