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
});

describe('redactStoreUrl', () => {
  it('masks the password and nothing else', () => {
    expect(redactStoreUrl('postgres://mvm:secret@db:5432/mvm')).toBe(
      'postgres://mvm:***@db:5432/mvm',
    );
    expect(redactStoreUrl('/var/mvm.sqlite')).toBe('/var/mvm.sqlite');
  });
});
