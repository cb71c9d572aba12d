/**
 * The generated OpenAPI document passes Redocly's recommended ruleset with no error, every
 * operation has an operationId, and the deployment's servers and IAM (SigV4) scheme are in it.
 */
import { BaseResolver, createConfig, lintDocument, makeDocumentFromString } from '@redocly/openapi-core';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { createGatewayApp } from './app';
import type { GatewayDeps } from './deps';
import { GatewayMetrics } from './metrics';

/** Only the document is asked for: no route is called, so nothing behind the deps is used. */
const app = createGatewayApp({ logger: silentLogger, metrics: new GatewayMetrics() } as unknown as GatewayDeps);

async function fetchDocument() {
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

/**
 * Warnings accepted, with why:
 *   info-license             the project is UNLICENSED (package.json): no license to name.
 *   operation-4xx-response   /healthz, /metrics, GET /v1/topics and /v1/cluster take no input,
 *                            so they have no 4xx of their own (API Gateway's 403 for a bad
 *                            signature is the platform's, the same for every signed route).
 */
const ACCEPTED_WARNINGS = new Set(['info-license', 'operation-4xx-response']);
/** The schedule's DELETE and the key lookup's GET share a template shape only: other methods, and a messageId is hex, never "by-key". */
const acceptedAmbiguity = (p: { ruleId: string; message: string }) =>
  p.ruleId === 'no-ambiguous-paths' && p.message.includes('/by-key/{key}') && p.message.includes('/{messageId}/schedule');

describe('the OpenAPI document', () => {
  it('passes the recommended ruleset of a standard linter (Redocly) with no error', async () => {
    const doc = await fetchDocument();
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintDocument({
      document: makeDocumentFromString(JSON.stringify(doc), '/openapi.json'),
      config,
      externalRefResolver: new BaseResolver(),
    });
    const show = (p: (typeof problems)[number]) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`;
    expect(problems.filter((p) => p.severity === 'error').map(show)).toEqual([]);
    expect(problems.filter((p) => p.severity === 'warn' && !ACCEPTED_WARNINGS.has(p.ruleId) && !acceptedAmbiguity(p)).map(show)).toEqual([]);
  });

  it('gives every operation a unique operationId', async () => {
    const doc = await fetchDocument();
    const ids = Object.values(doc.paths).flatMap((ops: any) => Object.values(ops).map((op: any) => op.operationId));
    expect(ids.length).toBeGreaterThanOrEqual(12);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes the deployment: servers, SigV4 (IAM) security, /healthz open', async () => {
    const doc = await fetchDocument();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers.map((s: any) => s.url)).toContain('https://{apiId}.execute-api.{region}.amazonaws.com');
    expect(doc.components.securitySchemes.sigv4).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
    expect(doc.security).toEqual([{ sigv4: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });

  it('keeps the limits and codes the API promises', async () => {
    const doc = await fetchDocument();
    const send = doc.paths['/v1/topics/{topic}/messages'].post;
    expect(send.description).toContain('5767168 bytes');
    expect(send.description).toContain('6291456-byte request payload');
    expect(send.responses['404'].description).toContain('also for mode=oneway');
    expect(send.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/SendRequest');
    expect(doc.components.schemas.SendRequest.properties.messages).toMatchObject({ minItems: 1, maxItems: 1000 });
    expect(doc.paths['/v1/topics/{topic}/messages'].get.description).toContain('6200000 bytes');
    expect(doc.components.schemas.Health.properties.pid.type).toBe('integer');
    expect(doc.paths['/v1/topics/{topic}'].get.parameters[0].schema).toMatchObject({ pattern: '^[%|a-zA-Z0-9_-]+$', maxLength: 127 });
  });

  it('serves an interactive page at /docs that loads the document', async () => {
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('SwaggerUIBundle');
    expect(html).toContain('/openapi.json');
  });
});
