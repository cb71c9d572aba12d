/**
 * The OpenAPI 3.1 document of the gateway's v1 API, generated from the routes' definitions
 * (createRoute + zod schemas, api/*.ts) so it cannot drift from the code; served at
 * GET /openapi.json and rendered at GET /docs.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';

/** The scheme's name in `security` and `components.securitySchemes`. */
const SIGV4 = 'sigv4';

const INFO = {
  title: 'CirrusMQ gateway',
  version: '1',
  description:
    'Produce and read RocketMQ-style messages over HTTP. Errors are {"error":{"code","message"}}, with an optional "details" object of facts some errors carry (OFFSET_BELOW_MINIMUM: details.minOffset). ' +
    'Deployed (infra/lib/stacks/gateway-stack.ts), it is an API Gateway HTTP API with IAM authorization: requests are signed with AWS Signature Version 4 (service execute-api), e.g. `curl --aws-sigv4 "aws:amz:REGION:execute-api"`; GET /healthz is open. The local gateway (npm start) has no authentication.',
};

/**
 * Documents the API Gateway HTTP API's IAM authorization the way AWS does in OpenAPI: an
 * apiKey scheme on the Authorization header marked `x-amazon-apigateway-authtype: awsSigv4`.
 */
export function registerSecurity(app: OpenAPIHono): void {
  app.openAPIRegistry.registerComponent('securitySchemes', SIGV4, {
    type: 'apiKey',
    name: 'Authorization',
    in: 'header',
    description: 'AWS Signature Version 4 (IAM); service execute-api',
    'x-amazon-apigateway-authtype': 'awsSigv4',
  } as never);
}

/** The document, built from every route registered on `app`. */
export function openApiDocument(app: OpenAPIHono): ReturnType<OpenAPIHono['getOpenAPI31Document']> {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: INFO,
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'A deployment: the GatewayStack output "GatewayUrl"',
        variables: { apiId: { default: 'abcdef1234', description: 'The HTTP API id' }, region: { default: 'us-east-1' } },
      },
      { url: 'http://127.0.0.1:8080', description: 'Local (npm start)' },
    ],
    security: [{ [SIGV4]: [] }],
    tags: [
      { name: 'messages', description: 'Send and read' },
      { name: 'lookup', description: "Find messages by key or id through the brokers' index" },
      { name: 'topics', description: 'Topic administration' },
      { name: 'groups', description: 'Consumer group administration' },
      { name: 'cluster', description: 'Brokers and their figures' },
      { name: 'operations', description: 'Health, metrics and this document' },
    ],
  });
}
