/**
 * A CDK App for the tests: the context of cdk.json (the same feature flags as `npm run
 * synth`), Lambda bundling skipped (test/cdk/lambda-bundles.test.ts builds and runs the
 * bundles instead), and a temporary cloud assembly folder the test removes.
 */
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../../infra/lib/paths';

const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
const outdirs: string[] = [];

export function testApp(context: Record<string, unknown> = {}): App {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-cdk-'));
  outdirs.push(outdir);
  return new App({ outdir, context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } });
}

export function removeTestApps(): void {
  for (const d of outdirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; DeletionPolicy?: string }>;

/** The resources of one type in a template, by logical id. */
export function resourcesOf(template: Template, type: string): [string, Record<string, any>][] {
  const all = template.toJSON().Resources as Resources;
  return Object.entries(all)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, { ...r.Properties, __deletionPolicy: r.DeletionPolicy }]);
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Sid?: string;
}

/** Every IAM statement of a template: inline policies, managed policies and role policies. */
export function iamStatements(template: Template): { where: string; statement: Statement }[] {
  const out: { where: string; statement: Statement }[] = [];
  const all = template.toJSON().Resources as Resources;
  for (const [id, r] of Object.entries(all)) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') for (const p of r.Properties?.Policies ?? []) docs.push(p.PolicyDocument);
    for (const doc of docs) {
      for (const statement of (doc as { Statement: Statement[] }).Statement) out.push({ where: id, statement });
    }
  }
  return out;
}

export const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
