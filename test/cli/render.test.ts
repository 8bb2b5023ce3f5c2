import { describe, expect, it } from 'vitest';
import {
  renderError,
  renderFields,
  renderHuman,
  renderJson,
  renderTable,
} from '../../src/cli/render.ts';
import { NotFoundError, ValidationError } from '../../src/core/errors.ts';

describe('render', () => {
  it('aligns table columns with two spaces and no trailing blanks', () => {
    const text = renderTable(
      ['TENANT', 'NET', 'SUBNET'],
      [
        ['smoke-test', '99', '10.240.99.0/24'],
        ['a', '1', ''],
      ],
    );
    expect(text).toBe(
      ['TENANT      NET  SUBNET', 'smoke-test  99   10.240.99.0/24', 'a           1', ''].join(
        '\n',
      ),
    );
  });

  it('prints the empty message instead of a header-only table', () => {
    const text = renderHuman([{ kind: 'table', columns: ['A'], rows: [], empty: 'no tenants' }]);
    expect(text).toBe('no tenants\n');
  });

  it('aligns fields and separates blocks with a blank line', () => {
    expect(
      renderFields([
        ['pool', 'a/b'],
        ['data disk MiB', '1024'],
      ]),
    ).toBe('pool:           a/b\ndata disk MiB:  1024\n');
    expect(
      renderHuman([
        { kind: 'text', text: 'one' },
        { kind: 'text', text: 'two\n' },
      ]),
    ).toBe('one\n\ntwo\n');
  });

  it('prints --json data exactly', () => {
    expect(JSON.parse(renderJson([{ id: 'a' }]))).toEqual([{ id: 'a' }]);
  });

  it('renders errors for humans with every problem, and for scripts as JSON', () => {
    const error = new ValidationError('bad input', ['first', 'second']);
    expect(renderError(error, false)).toBe('error: bad input\n  - first\n  - second\n');
    expect(JSON.parse(renderError(error, true))).toEqual({
      error: {
        code: 'invalid_argument',
        message: 'bad input',
        details: { problems: ['first', 'second'] },
      },
    });
    expect(renderError(new ValidationError('only', ['only']), false)).toBe('error: only\n');
    expect(renderError(new NotFoundError('tenant', 'x'), false)).toBe(
      "error: tenant 'x' not found\n",
    );
    expect(renderError(new TypeError('boom'), false)).toBe(
      'error: internal error: boom; please report this\n',
    );
  });
});
