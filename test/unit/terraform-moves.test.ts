/**
 * Static checks of the module's move from per-resource blocks to maps (there is no terraform binary here, so no
 * `validate`/`plan`): the moved blocks of terraform/modules/tributary/moved.tf carry every former address of the
 * buckets, keys, roles and the API access log group to its instance (FORMER_ADDRESSES in terraform-move-checks.ts),
 * so an existing deployment keeps them; and no copied blocks are left (single-instance resources of one type that
 * differ only in names, references or descriptions).
 *
 * Every checker is a pure function over the parsed configuration returning findings; each one is also run
 * on a mutated copy to show that it does flag the problem.
 */
import * as path from 'path';
import { MODULE_DIR, blocks, clone, parseFile } from './terraform-config';
import type { TfConfig } from './terraform-config';
import { loadTerraform } from './terraform-fixtures';
import { ADDED_INSTANCES, FORMER_ADDRESSES, checkMoves, copiedBlocks, unwrapAddress } from './terraform-move-checks';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let root: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  ({ modSource, mod, root, bootstrap } = await loadTerraform());
});

describe('moved blocks: an existing deployment keeps its buckets, keys and roles', () => {
  test('every former address moves to its instance, and every instance of the maps has its former address', () => {
    expect(FORMER_ADDRESSES).toHaveLength(73);
    expect(checkMoves(mod, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual([]);
    // Without the list of added instances, exactly those are flagged (so the list holds nothing else).
    expect(checkMoves(mod, FORMER_ADDRESSES).sort()).toEqual(ADDED_INSTANCES.map((i) => `${i}: no former address moves here`).sort());
  });

  test('the moves are all in moved.tf, written as Terraform reads them', async () => {
    const j = await parseFile(path.join(MODULE_DIR, 'moved.tf'));
    expect(Object.keys(j)).toEqual(['moved']);
    const moves = blocks(j, 'moved').map((m) => `${unwrapAddress(m.from)} → ${unwrapAddress(m.to)}`);
    expect(moves.sort()).toEqual(FORMER_ADDRESSES.map(([from, to]) => `${from} → ${to}`).sort());
  });

  test('the checker flags a missing, a wrong, a duplicated and a stray move, a move onto a new instance, and an instance nothing moves to', () => {
    const m = clone(mod);
    m.moved = m.moved.filter((x) => x.from !== '${aws_s3_bucket.identity}');
    m.moved.find((x) => x.from === '${aws_iam_role.not_allowed}')!.to = '${aws_iam_role.function["authorizer"]}';
    m.moved.push({ from: '${aws_kms_key.lake}', to: '${aws_kms_key.this["lake"]}' });
    m.moved.push({ from: '${aws_s3_bucket.lake_old}', to: '${aws_s3_bucket.this["nowhere"]}' });
    m.moved.push({ from: '${aws_kms_key.study}', to: '${aws_kms_key.this["study"]}' });
    expect(checkMoves(m, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual([
      'aws_s3_bucket.identity: no moved block (a plan would destroy it and create aws_s3_bucket.this["identity"])',
      'aws_kms_key.lake: 2 moved blocks',
      'aws_iam_role.not_allowed: moved to aws_iam_role.function["authorizer"], not aws_iam_role.function["notAllowed"]',
      'aws_iam_role.function["authorizer"]: target of more than one moved block',
      'aws_kms_key.this["lake"]: target of more than one moved block',
      'moved block from aws_s3_bucket.lake_old: not a former address',
      'moved block to aws_s3_bucket.this["nowhere"]: no such instance',
      'moved block from aws_kms_key.study: not a former address',
      'moved block to aws_kms_key.this["study"]: a new instance, which had no former address',
      'aws_s3_bucket.this["identity"]: no former address moves here',
      'aws_iam_role.function["notAllowed"]: no former address moves here',
    ]);
    const n = clone(mod);
    n.resource.aws_kms_key.lake = {};
    expect(checkMoves(n, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual(['moved block from aws_kms_key.lake: still declared']);
  });
});

describe('no copied blocks', () => {
  test('no two single-instance resources of one type differ only in names, references or descriptions', () => {
    expect(copiedBlocks(modSource)).toEqual([]);
    expect(copiedBlocks(root)).toEqual([]);
    expect(copiedBlocks(bootstrap)).toEqual([]);
  });

  test('the checker flags blocks copied from one another (as the buckets, keys and roles were)', () => {
    const m = clone(modSource);
    m.resource.aws_sqs_queue.etl_dlq_copy = { ...m.resource.aws_sqs_queue.etl_dlq, name: '${local.prefix}-etl-dlq-copy' };
    m.resource.aws_kms_key.lake = { description: '${local.prefix} raw lake', enable_key_rotation: true, policy: '${data.aws_iam_policy_document.kms_default.json}' };
    m.resource.aws_kms_key.marts = { description: '${local.prefix} marts', enable_key_rotation: true, policy: '${data.aws_iam_policy_document.kms_default.json}' };
    expect(copiedBlocks(m)).toEqual(['aws_kms_key: lake, marts are copies of one block', 'aws_sqs_queue: etl_dlq, etl_dlq_copy are copies of one block']);
  });
});
