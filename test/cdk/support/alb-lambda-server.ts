/**
 * A local stand-in for the NameServer's internal Application Load Balancer: an HTTP server
 * that turns each request into the event an ALB gives a Lambda target, calls the handler,
 * and writes its answer back. So a broker and the gateway reach a bundled NameServer handler
 * over HTTP the way they do in AWS (infra/lib/stacks/nameserver-stack.ts).
 *
 * ALB event rules kept here: path and query parameters as received (not URL-decoded), header
 * names lower-cased, text bodies as text and others base64 (isBase64Encoded).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type LambdaHandler = (event: unknown, context?: unknown) => Promise<unknown>;

interface LambdaResult {
  statusCode: number;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  body?: string;
  isBase64Encoded?: boolean;
}

const TEXT = /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded))/;

export function albEvent(method: string, rawUrl: string, headers: Record<string, string>, body: Buffer | undefined) {
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const queryStringParameters: Record<string, string> = {};
  if (q >= 0) {
    for (const pair of rawUrl.slice(q + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      queryStringParameters[eq < 0 ? pair : pair.slice(0, eq)] = eq < 0 ? '' : pair.slice(eq + 1);
    }
  }
  const text = TEXT.test(headers['content-type'] ?? '');
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cirrusmq-ns/0123456789abcdef' } },
    httpMethod: method,
    path,
    queryStringParameters,
    headers,
    body: body && body.length > 0 ? (text ? body.toString('utf8') : body.toString('base64')) : '',
    isBase64Encoded: Boolean(body && body.length > 0 && !text),
  };
}

export async function startAlbLambdaServer(handler: LambdaHandler): Promise<{ addr: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
      const event = albEvent(req.method ?? 'GET', req.url ?? '/', headers, Buffer.concat(chunks));
      handler(event, {}).then(
        (raw) => {
          const r = raw as LambdaResult;
          const out: Record<string, string | string[]> = { ...(r.headers ?? {}), ...(r.multiValueHeaders ?? {}) };
          const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body, r.isBase64Encoded ? 'base64' : 'utf8');
          res.writeHead(r.statusCode, { ...out, 'content-length': String(body.length) });
          res.end(body);
        },
        (err: unknown) => {
          // What an ALB answers when its Lambda target fails.
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`502 Bad Gateway: ${String(err)}`);
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    addr: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
