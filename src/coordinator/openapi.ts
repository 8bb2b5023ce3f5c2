import { z } from 'zod';
import { errorBodySchema } from '../contract/common.ts';
import {
  MAX_REQUEST_BODY_BYTES,
  routes,
  scopes,
  type RouteDef,
  type Scope,
} from '../contract/api.ts';

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
}

function parameters(def: RouteDef): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [
    ['path', def.params],
    ['query', def.query],
  ] as const) {
    if (!schema) continue;
    const properties = (schemaOf(schema, 'input').properties ?? {}) as Record<string, JsonSchema>;
    for (const [name, property] of Object.entries(properties)) {
      out.push({ name, in: where, required: where === 'path', schema: property });
    }
  }
  return out;
}

/** Which credentials each scope takes: tokens, the node's client certificate (mTLS), or both. */
const securityOf: Record<Scope, JsonSchema[]> = {
  public: [],
  admin: [{ bearer: [] }],
  tenant: [{ bearer: [] }],
  'tenant-list': [{ bearer: [] }],
  node: [{ bearer: [] }, { nodeCertificate: [] }],
  'node-certificate': [{ nodeCertificate: [] }],
};

/** A WebSocket route's answer: the upgrade, and the messages the socket then carries. */
function upgradeResponses(def: RouteDef): JsonSchema {
  const ws = def.websocket;
  if (!ws) return {};
  return {
    responses: {
      '101': {
        description: `Switching Protocols to a WebSocket. Binary messages: ${ws.binary}. Text (or control) messages: see x-mvm-websocket.`,
      },
    },
    'x-mvm-websocket': {
      binary: ws.binary,
      client: schemaOf(ws.client, 'input'),
      server: schemaOf(ws.server, 'output'),
      // Opened with ?ticket= of this session kind instead of a token (createSessionTicket).
      ...(ws.ticket !== undefined ? { ticket: ws.ticket } : {}),
    },
  };
}

/** An upload's body: bytes, bounded by the route (not by the JSON limit). */
function requestBody(def: RouteDef): JsonSchema {
  if (def.stream?.kind === 'upload') {
    const max = def.stream.maxBytes;
    return {
      requestBody: {
        required: true,
        description: `The bytes, at most ${max} of them (streamed to disk as they arrive)`,
        content: {
          'application/octet-stream': {
            schema: { type: 'string', format: 'binary', maxLength: max },
          },
        },
      },
    };
  }
  if (!def.body) return {};
  return {
    requestBody: {
      required: true,
      description: `JSON of at most ${MAX_REQUEST_BODY_BYTES} bytes; a larger body is answered 413 payload_too_large`,
      content: { 'application/json': { schema: schemaOf(def.body, 'input') } },
    },
  };
}

function successOf(def: RouteDef): JsonSchema {
  if (def.text !== undefined) {
    return { description: 'text', content: { [def.text]: { schema: { type: 'string' } } } };
  }
  if (def.stream?.kind === 'download') {
    return {
      description: 'the bytes (206 with Content-Range for a Range request)',
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    };
  }
  const whole = schemaOf(def.response, 'output');
  // A list: the whole list, or one page of it when the query has limit or cursor.
  const schema = def.page ? { oneOf: [whole, schemaOf(def.page, 'output')] } : whole;
  return { description: 'success', content: { 'application/json': { schema } } };
}

function operation(name: string, def: RouteDef): JsonSchema {
  const errorResponse = {
    content: { 'application/json': { schema: schemaOf(errorBodySchema, 'output') } },
  };
  const upgrade = upgradeResponses(def);
  const success = def.websocket
    ? (upgrade['responses'] as JsonSchema)
    : { [String(def.status)]: successOf(def) };
  return {
    operationId: name,
    summary: def.summary,
    description: `Permission (${def.scope}): ${scopes[def.scope]}`,
    security: securityOf[def.scope],
    'x-mvm-scope': def.scope,
    parameters: parameters(def),
    ...requestBody(def),
    responses: { ...success, default: { description: 'error', ...errorResponse } },
    ...(def.websocket ? { 'x-mvm-websocket': upgrade['x-mvm-websocket'] } : {}),
  };
}

/** The published OpenAPI 3.1 document, generated from the same route table the server uses. */
export function buildOpenApi(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const [name, def] of Object.entries(routes) as [string, RouteDef][]) {
    const path = `/v1${def.path.replace(/:([a-z]+)/g, '{$1}')}`;
    paths[path] = { ...paths[path], [def.method]: operation(name, def) };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'mvm coordinator API', version },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        nodeCertificate: { type: 'mutualTLS' },
      },
    },
    paths,
  };
}
