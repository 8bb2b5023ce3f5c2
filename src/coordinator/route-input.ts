import type { Context } from 'hono';
import type { z } from 'zod';
import { errorMessage, ValidationError } from '../core/errors.ts';
import type { RouteDef } from '../contract/api.ts';
import { requestText } from './request-body.ts';

/** Enough to fix a request; a hostile one must not make the answer as big as itself. */
const MAX_PROBLEMS = 20;
const MAX_KEYS_SHOWN = 10;
const MAX_NAME_SHOWN = 64;

/** A field name as the caller sent it, cut short and with control characters escaped. */
function shown(name: PropertyKey): string {
  const text = String(name);
  const cut = text.length > MAX_NAME_SHOWN ? `${text.slice(0, MAX_NAME_SHOWN)}…` : text;
  return /^[\x20-\x7e]*$/.test(cut) ? cut : JSON.stringify(cut);
}

function problemOf(where: string, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.slice(0, MAX_KEYS_SHOWN).map(shown);
    const more = issue.keys.length - keys.length;
    return `${where}: unknown field(s) ${keys.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
  }
  const path = issue.path.length > 0 ? issue.path.map(shown).join('.') : where;
  return `${path}: ${issue.message}`;
}

/** Turns zod issues into one ValidationError listing every problem with its field path. */
export function validationErrorFrom(where: string, error: z.ZodError): ValidationError {
  const problems = error.issues.slice(0, MAX_PROBLEMS).map((issue) => problemOf(where, issue));
  const more = error.issues.length - problems.length;
  if (more > 0) problems.push(`${where}: ${more} more problem(s) not listed`);
  return new ValidationError(`invalid ${where}: ${problems.join('; ')}`, problems);
}

function parseWith(where: string, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw validationErrorFrom(where, result.error);
  return result.data;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await requestText(c);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = errorMessage(error);
    throw new ValidationError(`malformed JSON body: ${reason}`, [`body: ${reason}`]);
  }
}

export interface ParsedInput {
  params: unknown;
  query: unknown;
  body: unknown;
}

export async function parseRouteInput(c: Context, def: RouteDef): Promise<ParsedInput> {
  const params = parseWith('path', def.params, c.req.param());
  const query = def.query ? parseWith('query', def.query, c.req.query()) : undefined;
  const names = Object.keys(c.req.query());
  if (!def.query && names.length > 0) {
    const listed = names.slice(0, MAX_KEYS_SHOWN).map(shown).join(', ');
    throw new ValidationError(`this endpoint takes no query parameters`, [
      `query: unknown parameter(s) ${listed}${names.length > MAX_KEYS_SHOWN ? ' and more' : ''}`,
    ]);
  }
  const body = def.body ? parseWith('body', def.body, await readJson(c)) : undefined;
  return { params, query, body };
}
