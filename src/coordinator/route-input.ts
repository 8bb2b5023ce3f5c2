import type { Context } from 'hono';
import type { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { RouteDef } from '../contract/api.ts';

/** Turns zod issues into one ValidationError listing every problem with its field path. */
export function validationErrorFrom(where: string, error: z.ZodError): ValidationError {
  const problems = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : where;
    if (issue.code === 'unrecognized_keys')
      return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${path}: ${issue.message}`;
  });
  return new ValidationError(`invalid ${where}: ${problems.join('; ')}`, problems);
}

function parseWith(where: string, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw validationErrorFrom(where, result.error);
  return result.data;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
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
  if (!def.query && Object.keys(c.req.query()).length > 0) {
    throw new ValidationError(`this endpoint takes no query parameters`, [
      `query: unknown parameter(s) ${Object.keys(c.req.query()).join(', ')}`,
    ]);
  }
  const body = def.body ? parseWith('body', def.body, await readJson(c)) : undefined;
  return { params, query, body };
}
