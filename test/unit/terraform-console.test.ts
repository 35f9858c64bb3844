/**
 * Static checks of the operations console's Terraform (terraform/modules/tributary/console.tf; there is no terraform
 * binary here, so no `validate`/`plan`): its assets in a private bucket read by CloudFront only, TLS only, with
 * /ops/* routed to the API; and the job records table, published to serverless.yml through SSM.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TF_DIR, blocks } from './terraform-config';
import type { TfConfig } from './terraform-config';
import { loadTerraform } from './terraform-fixtures';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let mod: TfConfig;

beforeAll(async () => {
  ({ mod } = await loadTerraform());
});

describe('operations console (console.tf)', () => {
  test('assets in a private bucket read by CloudFront only (origin access control), TLS only; /ops/* goes to the API', () => {
    const b = mod.resource.aws_s3_bucket.console;
    expect(b).toBeDefined();
    const pab = mod.resource.aws_s3_bucket_public_access_block.console;
    expect(pab).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    const sse = blocks(mod.resource.aws_s3_bucket_server_side_encryption_configuration.console, 'rule')[0];
    expect(blocks(sse, 'apply_server_side_encryption_by_default')[0]?.sse_algorithm).toBe('AES256');
    const cf = mod.resource.aws_cloudfront_distribution.console;
    const origins = blocks(cf, 'origin');
    expect(origins[0]).toMatchObject({ origin_id: 'console-assets', origin_access_control_id: '${aws_cloudfront_origin_access_control.console.id}' });
    expect(blocks(cf, 'default_cache_behavior')[0]).toMatchObject({ target_origin_id: 'console-assets', viewer_protocol_policy: 'redirect-to-https', allowed_methods: ['GET', 'HEAD'] });
    expect(mod.resource.aws_cloudfront_origin_access_control.console).toMatchObject({ origin_access_control_origin_type: 's3', signing_behavior: 'always' });
    const policy = mod.data.aws_iam_policy_document.console_bucket;
    const st = blocks(policy, 'statement');
    const read = st.find((x) => x.sid === 'CloudFrontReadsAssets')!;
    expect(read.actions).toEqual(['s3:GetObject']);
    expect(blocks(read, 'principals')[0]).toMatchObject({ type: 'Service', identifiers: ['cloudfront.amazonaws.com'] });
    expect(blocks(read, 'condition')[0]).toMatchObject({ variable: 'AWS:SourceArn', values: ['${aws_cloudfront_distribution.console.arn}'] });
    expect(st.find((x) => x.sid === 'DenyInsecureTransport')).toMatchObject({ effect: 'Deny' });
    // the ops API behind the same origin (no CORS): an ordered behaviour /ops/* to the API origin, never cached
    const src = fs.readFileSync(path.join(TF_DIR, 'modules/tributary/console.tf'), 'utf8');
    expect(src).toMatch(/path_pattern\s+= "\/ops\/\*"/);
    expect(src).toMatch(/target_origin_id\s+= "ops-api"/);
    expect(src).toMatch(/cache_policy_id\s+= local\.cf_caching_disabled/);
  });

  test('the job records table: key id, TTL, encryption, point-in-time recovery; published to serverless.yml through SSM', () => {
    const t = mod.resource.aws_dynamodb_table.jobs;
    expect(t).toMatchObject({ hash_key: 'id', billing_mode: 'PAY_PER_REQUEST' });
    expect(blocks(t, 'ttl')[0]).toMatchObject({ attribute_name: 'expiresAt', enabled: true });
    expect(blocks(t, 'server_side_encryption')[0]).toMatchObject({ enabled: true });
    expect(blocks(t, 'point_in_time_recovery')[0]).toMatchObject({ enabled: true });
    expect(mod.locals.ssm_core).toMatchObject({ jobs_table: '${aws_dynamodb_table.jobs.name}', ops_role_arn: '${aws_iam_role.function["ops"].arn}' });
  });
});
