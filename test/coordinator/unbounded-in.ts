type Json = Record<string, unknown>;

/** What a 32-bit integer column holds; stated here, not taken from the contract it checks. */
const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringProblems(s: Json): string[] {
  const out: string[] = [];
  if (typeof s.maxLength !== 'number') out.push('string without maxLength');
  if (typeof s.pattern !== 'string') out.push('string without a character rule (pattern)');
  return out;
}

function integerProblems(s: Json): string[] {
  const { minimum, maximum } = s;
  if (typeof minimum !== 'number' || typeof maximum !== 'number') {
    return ['integer without minimum and maximum'];
  }
  // A transfer's byte count or offset (contract/common.ts byteCount): 64-bit by design, never
  // a 32-bit column, and still bounded.
  const bytes = s['x-mvm-byte-count'] === true && s.format === 'int64' && minimum >= 0;
  if (bytes && maximum <= Number.MAX_SAFE_INTEGER) return [];
  if (minimum < MIN_INT32 || maximum > MAX_INT32) {
    return [`integer range ${minimum}..${maximum} is wider than a 32-bit column`];
  }
  return [];
}

/**
 * Every place in a JSON schema where a request could carry more than it should: a string
 * without a maximum length or a character rule, an integer without a range a 32-bit column
 * holds, a list or map without a maximum size, a value of any type.
 */
export function unboundedIn(schema: unknown, at: string): string[] {
  if (!isJson(schema)) return [`${at}: not a schema`];
  if ('enum' in schema || 'const' in schema) return [];
  const out: string[] = [];
  const visit = (sub: unknown, where: string) => out.push(...unboundedIn(sub, where));
  const here = (problems: string[]) => out.push(...problems.map((p) => `${at}: ${p}`));
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options)) options.forEach((option) => visit(option, at));
  }
  if ('$ref' in schema) here(['a $ref this check does not follow']);
  switch (schema.type) {
    case 'string':
      here(stringProblems(schema));
      break;
    case 'integer':
      here(integerProblems(schema));
      break;
    case 'number':
      here(['a non-integer number']);
      break;
    case 'array':
      if (typeof schema.maxItems !== 'number') here(['array without maxItems']);
      visit(schema.items, `${at}[]`);
      break;
    case 'object':
      for (const [name, property] of Object.entries((schema.properties ?? {}) as Json)) {
        visit(property, `${at}.${name}`);
      }
      if (isJson(schema.additionalProperties)) {
        // Keys from a closed set bound the map by themselves.
        const closedKeys = isJson(schema.propertyNames) && 'enum' in schema.propertyNames;
        if (typeof schema.maxProperties !== 'number' && !closedKeys) {
          here(['map without maxProperties']);
        }
        visit(schema.propertyNames ?? { type: 'string' }, `${at}{key}`);
        visit(schema.additionalProperties, `${at}{value}`);
      }
      break;
    case 'boolean':
    case 'null':
      break;
    default:
      if (!('anyOf' in schema || 'oneOf' in schema || 'allOf' in schema)) {
        here([`unconstrained value (type ${JSON.stringify(schema.type)})`]);
      }
  }
  return out;
}
