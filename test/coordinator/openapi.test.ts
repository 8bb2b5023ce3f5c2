import { describe, expect, it } from 'vitest';
import { routes } from '../../src/contract/api.ts';
import { buildOpenApi } from '../../src/coordinator/openapi.ts';

describe('published OpenAPI document', () => {
  it('documents every route of the contract with its scope and schemas', () => {
    const doc = buildOpenApi('test') as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { operationId: string; 'x-mvm-scope': string; responses: object }>
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const [name, def] of Object.entries(routes)) {
      const op = doc.paths[`/v1${def.path.replace(/:([a-z]+)/g, '{$1}')}`]?.[def.method];
      expect(op?.operationId).toBe(name);
      expect(op?.['x-mvm-scope']).toBe(def.scope);
      expect(Object.keys(op?.responses ?? {})).toContain(String(def.status));
    }
  });
});
