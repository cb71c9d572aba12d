/**
 * The CDK app (cdk.json runs it): `npm run synth`, `npm run deploy`. Settings come from
 * context (infra/lib/app-config.ts); docs/deploy.md walks through a deployment.
 */
import { App } from 'aws-cdk-lib';
import { propsFromContext } from '../lib/app-config';
import { createCirrusMq } from '../lib/cirrusmq';

const app = new App();
createCirrusMq(app, propsFromContext(app.node));
app.synth();
