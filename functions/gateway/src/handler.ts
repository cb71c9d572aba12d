/** The gateway as a Lambda behind API Gateway: deps live across warm invocations, so the route cache does too. */
import { handle } from 'hono/aws-lambda';
import { createGatewayApp } from './app';
import { loadGatewayConfig } from './config';
import { createGatewayDeps } from './create-deps';

export const handler = handle(createGatewayApp(createGatewayDeps(loadGatewayConfig())));
