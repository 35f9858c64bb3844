/**
 * Static checks of the Terraform files in terraform/ as text (there is no terraform binary here, so no
 * `validate`/`plan`/`fmt -check`): every file parses as HCL (@cdktf/hcl2json), and every file follows the canonical
 * `terraform fmt` layout rules that can be checked without the binary (test/unit/terraform-fmt.ts). The parser and
 * the layout checker are also run on broken input to show that they do flag it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from '@cdktf/hcl2json';
import { TF_DIR, listFiles, parseFile } from './terraform-config';
import { formatFindings } from './terraform-fmt';

describe('terraform files parse', () => {
  const files = listFiles(TF_DIR, ['.tf', '.tfvars', '.hcl']);

  test('the expected layout exists', () => {
    const rel = files.map((f) => path.relative(TF_DIR, f));
    for (const f of ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'backend.tf', 'bootstrap/main.tf']) expect(rel).toContain(f);
    for (const env of ['dev', 'staging', 'prod']) {
      expect(rel).toContain(`env/${env}.tfvars`);
      expect(rel).toContain(`env/${env}.backend.hcl`);
    }
    expect(rel.filter((f) => f.startsWith('modules/tributary/')).length).toBeGreaterThanOrEqual(5);
  });

  test.each(files.map((f) => [path.relative(TF_DIR, f), f]))('%s parses as HCL', async (_rel, file) => {
    const j = await parseFile(file);
    expect(Object.keys(j).length).toBeGreaterThan(0);
  });

  test('the parser rejects broken HCL (so the parse checks above can fail)', async () => {
    await expect(parse('broken.tf', 'resource "aws_s3_bucket" "x" {\n  bucket =\n}\n')).rejects.toThrow();
  });
});

describe('terraform fmt layout', () => {
  const files = listFiles(TF_DIR, ['.tf', '.tfvars', '.hcl']);

  test.each(files.map((f) => [path.relative(TF_DIR, f), f]))('%s is canonically formatted', (rel, file) => {
    expect(formatFindings(rel, fs.readFileSync(file, 'utf8'))).toEqual([]);
  });

  test('accepts known terraform fmt output', () => {
    // From the Terraform style guide and the hcl2json README (both fmt-formatted).
    const ok = [
      'resource "aws_instance" "example" {',
      '  ami           = "abc123"',
      '  instance_type = "t2.micro"',
      '',
      '  network_interface {',
      '    # ...',
      '  }',
      '}',
      '',
      'variable "name" {',
      '  description = "Name to be used on all the resources as identifier"',
      '  type        = string',
      '  default     = ""',
      '}',
      '',
      'locals {',
      '  a = 1',
      '  tags = merge(var.tags, {',
      '    Name = "x"',
      '  })',
      '  list = [',
      '    "a",',
      '  ]',
      '  m = { for k, v in var.m : k => v if v != "" }',
      '  s = "${var.a}-${var.b}"',
      '}',
      '',
    ].join('\n');
    expect(formatFindings('ok.tf', ok)).toEqual([]);
  });

  test('flags misaligned, over-aligned and unaligned "="', () => {
    const bad = ['locals {', '  a = 1', '  bbb = 2', '}', ''].join('\n');
    expect(formatFindings('bad.tf', bad)).toEqual(['bad.tf:2: "=" at column 5, expected 7']);
    // A blank line ends the group: aligning across it is not what terraform fmt does.
    const over = ['locals {', '  a   = 1', '', '  bbb = 2', '}', ''].join('\n');
    expect(formatFindings('over.tf', over)).toEqual(['over.tf:2: "=" at column 7, expected 5']);
    const twoSpaces = ['locals {', '  a =  1', '}', ''].join('\n');
    expect(formatFindings('spaces.tf', twoSpaces)).toEqual(['spaces.tf:2: expected exactly one space after "="']);
  });

  test('flags wrong indentation, tabs, trailing whitespace, CRLF and block header spacing', () => {
    expect(formatFindings('i.tf', 'locals {\n   a = 1\n}\n')).toEqual(['i.tf:2: indented 3 spaces, expected 2']);
    expect(formatFindings('n.tf', 'a = {\n  b = {\n    c = 1\n  }\n  }\n')).toEqual(['n.tf:5: indented 2 spaces, expected 0']);
    expect(formatFindings('t.tf', 'locals {\n\ta = 1\n}\n')).toEqual(['t.tf:2: tab character', 't.tf:2: indented 0 spaces, expected 2']);
    expect(formatFindings('w.tf', 'locals {\n  a = 1 \n}\n')).toEqual(['w.tf:2: trailing whitespace']);
    expect(formatFindings('c.tf', 'locals {\r\n  a = 1\r\n}\r\n')).toEqual(['c.tf: CR characters (use LF line endings)']);
    expect(formatFindings('h.tf', 'resource  "a" "b" {\n}\n')).toEqual(['h.tf:1: block header spacing (expected single spaces: type "label" {)']);
    expect(formatFindings('e.tf', 'locals {\n  a = 1\n}')).toEqual(['e.tf: no final newline']);
  });

  test('flags the expression rewrites terraform fmt makes: interpolation-only strings, quoted type names', () => {
    expect(formatFindings('i.tf', 'locals {\n  a = "${var.x}"\n}\n')).toEqual(['i.tf:2: interpolation-only string (terraform fmt unwraps "${x}" to x)']);
    expect(formatFindings('ok.tf', 'locals {\n  a = "${var.x}-${var.y}"\n  b = "${var.x}/*"\n  c = "p/${var.x}"\n}\n')).toEqual([]);
    expect(formatFindings('t.tf', 'variable "a" {\n  type = "string"\n}\n')).toEqual(['t.tf:2: quoted type name (terraform fmt unquotes it)']);
  });

  test('aligns trailing comments of consecutive lines', () => {
    expect(formatFindings('ok.tf', 'locals {\n  a   = 1 # one\n  bcd = 2 # two\n}\n')).toEqual([]);
    expect(formatFindings('bad.tf', 'locals {\n  a   = 1 # one\n  bcd = 22 # two\n}\n')).toEqual(['bad.tf:2: comment at column 11, expected 12']);
  });

  test('"=" inside strings, comparisons and for expressions is not an attribute "="', () => {
    expect(formatFindings('ok.tf', 'locals {\n  x = "a=b"\n  yy = var.a == "=" ? 1 : 2\n}\n')).toEqual(['ok.tf:2: "=" at column 5, expected 6']);
  });
});
