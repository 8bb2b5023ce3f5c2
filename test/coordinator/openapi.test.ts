import { describe, expect, it } from 'vitest';
import { routes, scopes, type Scope } from '../../src/contract/api.ts';
import { buildOpenApi } from '../../src/coordinator/openapi.ts';

/** Which credentials each scope's routes must say they take. */
const schemesOf: Record<Scope, string[]> = {
  public: [],
  admin: ['bearer'],
  tenant: ['bearer'],
  'tenant-list': ['bearer'],
  node: ['bearer', 'nodeCertificate'],
  'node-certificate': ['nodeCertificate'],
};

describe('published OpenAPI document', () => {
  it('documents every route of the contract with its permission and schemas', () => {
    const doc = buildOpenApi('test') as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            operationId: string;
            'x-mvm-scope': string;
            description: string;
            security: Array<Record<string, unknown>>;
            responses: object;
          }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const [name, def] of Object.entries(routes)) {
      const op = doc.paths[`/v1${def.path.replace(/:([a-z]+)/g, '{$1}')}`]?.[def.method];
      expect(op?.operationId).toBe(name);
      expect(op?.['x-mvm-scope']).toBe(def.scope);
      expect(op?.description).toBe(`Permission (${def.scope}): ${scopes[def.scope]}`);
      const schemes = (op?.security ?? []).flatMap((s) => Object.keys(s)).sort();
      expect({ name, schemes }).toEqual({ name, schemes: schemesOf[def.scope] });
      expect(Object.keys(op?.responses ?? {})).toContain(String(def.status));
    }
  });
});
