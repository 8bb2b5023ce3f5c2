import { errorMessage, isMvmError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';

/**
 * The one printer. Commands return data plus blocks describing how a human should see it;
 * `--json` prints the data exactly; errors go to stderr in the same two flavours.
 */
export type Block =
  | {
      kind: 'table';
      columns: readonly string[];
      rows: ReadonlyArray<readonly string[]>;
      empty: string;
    }
  | { kind: 'fields'; title?: string; fields: ReadonlyArray<readonly [string, string]> }
  | { kind: 'text'; text: string };

export interface Output {
  write(chunk: string): unknown;
}

export function renderTable(
  columns: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
): string {
  const widths = columns.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    columns
      .map((_, i) => (cells[i] ?? '').padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map(line)].join('\n') + '\n';
}

export function renderFields(
  fields: ReadonlyArray<readonly [string, string]>,
  title?: string,
): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length + 1));
  const lines = fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`.trimEnd());
  return [...(title === undefined ? [] : [title]), ...lines].join('\n') + '\n';
}

export function renderBlock(block: Block): string {
  switch (block.kind) {
    case 'table':
      return block.rows.length === 0 ? `${block.empty}\n` : renderTable(block.columns, block.rows);
    case 'fields':
      return renderFields(block.fields, block.title);
    case 'text':
      return block.text.endsWith('\n') ? block.text : `${block.text}\n`;
  }
}

/** Blocks are separated by one blank line. */
export function renderHuman(blocks: readonly Block[]): string {
  return blocks.map(renderBlock).join('\n');
}

export function renderJson(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

export interface ErrorView {
  code: ErrorCode;
  message: string;
  problems: readonly string[];
  details?: Readonly<Record<string, unknown>>;
}

/** Any thrown value as what an operator needs: a code, a message, and every problem. */
export function errorView(error: unknown): ErrorView {
  if (!isMvmError(error)) {
    const message = errorMessage(error);
    return {
      code: 'internal',
      message: `internal error: ${message}; please report this`,
      problems: [],
    };
  }
  const listed = error.details?.['problems'];
  const problems = Array.isArray(listed) ? listed.map(String) : [];
  return {
    code: error.code,
    message: error.message,
    problems,
    ...(error.details ? { details: error.details } : {}),
  };
}

export function renderError(error: unknown, json: boolean): string {
  const view = errorView(error);
  if (json) {
    const body = {
      code: view.code,
      message: view.message,
      ...(view.details ? { details: view.details } : {}),
    };
    return `${JSON.stringify({ error: body })}\n`;
  }
  // Skip problems the message already spells out (a one-problem error, a server summary).
  const extra = view.problems.filter((problem) => !view.message.includes(problem));
  const requestId = view.details?.['requestId'];
  const trace = typeof requestId === 'string' ? [`  (request id ${requestId})`] : [];
  return (
    [`error: ${view.message}`, ...extra.map((problem) => `  - ${problem}`), ...trace].join('\n') +
    '\n'
  );
}
