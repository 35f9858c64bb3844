/**
 * Structural checks of .circleci/config.yml (CircleCI 2.1): parsed with `yaml`, then every job, executor,
 * reusable command and workflow reference is resolved. The checker returns findings and is also run on broken
 * copies of the config to show that it flags them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseDocument } from 'yaml';

const REPO = path.resolve(__dirname, '../..');
const CONFIG = path.join(REPO, '.circleci', 'config.yml');

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Built-in CircleCI steps (https://circleci.com/docs/configuration-reference/#steps). */
const BUILTIN_STEPS = new Set([
  'run',
  'checkout',
  'setup_remote_docker',
  'save_cache',
  'restore_cache',
  'store_artifacts',
  'store_test_results',
  'persist_to_workspace',
  'attach_workspace',
  'add_ssh_keys',
  'when',
  'unless',
]);

/** Name of a step (`checkout`, `{ run: ... }`, `{ attach: {} }`). */
function stepName(step: unknown): string | undefined {
  if (typeof step === 'string') return step;
  if (isRec(step)) {
    const keys = Object.keys(step);
    return keys.length === 1 ? keys[0] : undefined;
  }
  return undefined;
}

/** The shell commands of a list of steps, expanding reusable commands defined in the config. */
function runCommands(config: Rec, steps: unknown, seen: Set<string> = new Set()): string[] {
  if (!Array.isArray(steps)) return [];
  const commands = isRec(config.commands) ? config.commands : {};
  const out: string[] = [];
  for (const step of steps) {
    const name = stepName(step);
    if (name === 'run') {
      const body = (step as Rec).run;
      if (typeof body === 'string') out.push(body);
      else if (isRec(body) && typeof body.command === 'string') out.push(body.command);
    } else if (name && name in commands && !seen.has(name)) {
      const def = commands[name];
      if (isRec(def)) out.push(...runCommands(config, def.steps, new Set([...seen, name])));
    }
  }
  return out;
}

/** Names of the jobs in a workflow entry list (`- install`, `- test: { requires: [...] }`). */
function workflowJobs(jobs: unknown): { name: string; requires: string[] }[] {
  if (!Array.isArray(jobs)) return [];
  return jobs.map((entry) => {
    if (typeof entry === 'string') return { name: entry, requires: [] };
    const name = stepName(entry) ?? '(invalid entry)';
    const opts = isRec(entry) ? entry[name] : undefined;
    const requires = isRec(opts) && Array.isArray(opts.requires) ? opts.requires.map(String) : [];
    return { name, requires };
  });
}

/** Findings for a parsed CircleCI config ([] = consistent). */
function checkConfig(config: unknown): string[] {
  const findings: string[] = [];
  if (!isRec(config)) return ['config is not a mapping'];
  if (config.version !== 2.1) findings.push(`version is ${String(config.version)}, expected 2.1`);
  const jobs = isRec(config.jobs) ? config.jobs : {};
  const executors = isRec(config.executors) ? config.executors : {};
  const commands = isRec(config.commands) ? config.commands : {};
  if (Object.keys(jobs).length === 0) findings.push('no jobs');

  for (const [name, def] of Object.entries(executors)) {
    if (!isRec(def) || !(Array.isArray(def.docker) || def.machine || def.macos)) findings.push(`executor ${name}: no docker/machine/macos`);
    else if (Array.isArray(def.docker) && !def.docker.every((d) => isRec(d) && typeof d.image === 'string' && d.image.includes(':'))) {
      findings.push(`executor ${name}: every docker image needs a pinned tag`);
    }
  }
  for (const [name, def] of Object.entries(jobs)) {
    if (!isRec(def)) {
      findings.push(`job ${name}: not a mapping`);
      continue;
    }
    if (typeof def.executor === 'string') {
      if (!(def.executor in executors)) findings.push(`job ${name}: unknown executor ${def.executor}`);
    } else if (!Array.isArray(def.docker) && !def.machine && !def.macos) {
      findings.push(`job ${name}: no executor`);
    }
    if (!Array.isArray(def.steps) || def.steps.length === 0) {
      findings.push(`job ${name}: no steps`);
      continue;
    }
    for (const step of def.steps) {
      const s = stepName(step);
      if (!s || (!BUILTIN_STEPS.has(s) && !(s in commands) && !s.includes('/'))) findings.push(`job ${name}: unknown step ${JSON.stringify(step)}`);
    }
  }

  const workflows = isRec(config.workflows) ? config.workflows : {};
  if (Object.keys(workflows).filter((w) => w !== 'version').length === 0) findings.push('no workflows');
  for (const [wname, wf] of Object.entries(workflows)) {
    if (wname === 'version') continue;
    const entries = workflowJobs(isRec(wf) ? wf.jobs : undefined);
    if (entries.length === 0) findings.push(`workflow ${wname}: no jobs`);
    const inWorkflow = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      if (!(e.name in jobs) && !e.name.includes('/')) findings.push(`workflow ${wname}: job ${e.name} is not defined`);
      for (const r of e.requires) if (!inWorkflow.has(r)) findings.push(`workflow ${wname}: ${e.name} requires ${r}, which is not in the workflow`);
    }
  }
  return findings;
}

const text = fs.readFileSync(CONFIG, 'utf8');
const config = parse(text) as Rec;
const jobs = config.jobs as Rec;
const commandsOf = (job: string): string[] => runCommands(config, (jobs[job] as Rec).steps);

describe('.circleci/config.yml', () => {
  test('is valid YAML without warnings, with no tabs', () => {
    const doc = parseDocument(text);
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([]);
    expect(text.includes('\t')).toBe(false);
  });

  test('is a consistent CircleCI 2.1 config: executors, jobs with steps, workflow references', () => {
    expect(config.version).toBe(2.1);
    expect(checkConfig(config)).toEqual([]);
  });

  test('has the install, lint+typecheck, test, newman and terraform jobs, wired in one workflow', () => {
    expect(Object.keys(jobs).sort()).toEqual(['install', 'lint_typecheck', 'newman', 'terraform_checks', 'test']);
    const wf = workflowJobs((config.workflows as Rec & { ci: Rec }).ci.jobs);
    expect(wf.map((j) => j.name).sort()).toEqual(Object.keys(jobs).sort());
    for (const j of wf) if (['lint_typecheck', 'test', 'newman'].includes(j.name)) expect(j.requires).toEqual(['install']);
  });

  test('uses a cimg/node 20 executor for the Node jobs', () => {
    const node = (config.executors as Rec).node as { docker: { image: string }[] };
    expect(node.docker[0].image).toMatch(/^cimg\/node:20(\.\d+)*$/);
    for (const j of ['install', 'lint_typecheck', 'newman']) expect((jobs[j] as Rec).executor).toBe('node');
    // the test job drives a browser too (test/e2e/console.test.ts): the same Node image with Chrome
    const browsers = (config.executors as Rec).node_browsers as { docker: { image: string }[] };
    expect(browsers.docker[0].image).toBe(`${node.docker[0].image}-browsers`);
    expect((jobs.test as Rec).executor).toBe('node_browsers');
    expect((jobs.test as Rec).environment).toMatchObject({ CHROMIUM_PATH: '/usr/bin/google-chrome' });
  });

  test('install runs npm ci and caches ~/.npm keyed on package-lock.json', () => {
    expect(commandsOf('install').some((c) => /^npm ci\b/.test(c))).toBe(true);
    const steps = (jobs.install as Rec).steps as unknown[];
    const save = steps.find((s) => stepName(s) === 'save_cache') as { save_cache: { key: string; paths: string[] } };
    expect(save.save_cache.key).toContain('{{ checksum "package-lock.json" }}');
    expect(save.save_cache.paths).toContain('~/.npm');
    expect(steps.some((s) => stepName(s) === 'persist_to_workspace')).toBe(true);
  });

  test('the jobs run lint, typecheck, npm test and newman (npm run postman)', () => {
    expect(commandsOf('lint_typecheck')).toEqual(['npm run lint', 'npm run typecheck']);
    expect(commandsOf('test').some((c) => /^npm test\b/.test(c))).toBe(true);
    expect(commandsOf('newman')).toEqual(['npm run postman']);
    const newmanStep = ((jobs.newman as Rec).steps as unknown[]).find((s) => stepName(s) === 'run') as { run: { name: string } };
    expect(newmanStep.run.name).toMatch(/newman/);
    // the Node jobs get the installed tree through the reusable attach command
    for (const j of ['lint_typecheck', 'test', 'newman']) expect(stepName(((jobs[j] as Rec).steps as unknown[])[0])).toBe('attach');
  });

  test('the terraform job runs fmt -check and validate on the root and the bootstrap', () => {
    const cmds = commandsOf('terraform_checks').join('\n');
    expect(cmds).toContain('terraform fmt -check -recursive');
    expect(cmds).toContain('terraform -chdir=terraform init -backend=false');
    expect(cmds).toContain('terraform -chdir=terraform validate');
    expect(cmds).toContain('terraform -chdir=terraform/bootstrap validate');
  });

  test('every `npm run X` names a package.json script (lint and postman are still to be added by the lead)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const used = Object.keys(jobs)
      .flatMap(commandsOf)
      .flatMap((c) => [...c.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]));
    expect(used.length).toBeGreaterThan(0);
    const missing = [...new Set(used)].filter((s) => !(s in pkg.scripts));
    for (const s of missing) expect(['lint', 'postman']).toContain(s);
    expect(pkg.scripts.test).toBeDefined();
    expect(pkg.scripts.typecheck).toBeDefined();
  });

  describe('the checker flags a broken config', () => {
    const broken = (mutate: (c: Rec) => void): string[] => {
      const c = parse(text) as Rec;
      mutate(c);
      return checkConfig(c);
    };

    test('wrong version', () => {
      expect(broken((c) => (c.version = 2))).toEqual(['version is 2, expected 2.1']);
    });

    test('a workflow referencing an undefined job, or requiring a job outside the workflow', () => {
      expect(
        broken((c) => {
          const ci = (c.workflows as Rec).ci as { jobs: unknown[] };
          ci.jobs.push('deploy');
          ci.jobs.push({ smoke: { requires: ['build'] } });
        }),
      ).toEqual([
        'workflow ci: job deploy is not defined',
        'workflow ci: job smoke is not defined',
        'workflow ci: smoke requires build, which is not in the workflow',
      ]);
    });

    test('a job without steps, an unknown step, an unknown executor', () => {
      expect(
        broken((c) => {
          const j = c.jobs as Record<string, Rec>;
          j.test.steps = [];
          j.newman.steps = ['attach', 'frobnicate'];
          j.lint_typecheck.executor = 'python';
        }),
      ).toEqual(['job lint_typecheck: unknown executor python', 'job test: no steps', 'job newman: unknown step "frobnicate"']);
    });

    test('an unpinned image', () => {
      expect(broken((c) => (((c.executors as Rec).node as { docker: { image: string }[] }).docker[0].image = 'cimg/node'))).toEqual([
        'executor node: every docker image needs a pinned tag',
      ]);
    });

    test('commands are found through reusable commands and plain run strings', () => {
      const c = parse(text) as Rec;
      (c.commands as Rec).install_deps = { steps: [{ run: 'npm ci' }] };
      expect(runCommands(c, ['install_deps', { run: { command: 'npm test' } }, { run: 'echo hi' }])).toEqual(['npm ci', 'npm test', 'echo hi']);
    });
  });
});
