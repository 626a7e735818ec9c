// Two builds of the Kubernetes binaries started at once (two test runs, a test run and the
// demo) both succeed: one builds, the other waits for its lock and finds the binaries. Before
// the lock, both wrote the same `.tmp` file and one failed with `mv: cannot stat`.
// A cache of its own where only crictl is missing (the rest linked from the real cache, and
// the Go caches shared), so that the build is short.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/cluster.js';

const execFileP = promisify(execFile);
const realCache = process.env.RINGTAP_CACHE ?? join(homedir(), '.cache/ringtap');
let cache: string;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

beforeAll(async () => {
  // The node binaries the copy links to.
  await execFileP('bash', [join(repoRoot, 'hack/build-controlplane.sh'), '--node'], { maxBuffer: 16 << 20, timeout: 1_500_000 });
  cache = mkdtempSync(join(tmpdir(), 'ringtap-build-'));
  for (const d of ['gomod', 'gobuild', 'src']) symlinkSync(join(realCache, d), join(cache, d));
  const k8s = readdirSync(join(realCache, 'bin')).find((d) => d.startsWith('k8s-'))!;
  mkdirSync(join(cache, 'bin', k8s), { recursive: true });
  for (const b of readdirSync(join(realCache, 'bin', k8s))) symlinkSync(join(realCache, 'bin', k8s, b), join(cache, 'bin', k8s, b));
}, 1_600_000);
afterAll(() => {
  if (cache) rmSync(cache, { recursive: true, force: true });
});

describe('concurrent builds', () => {
  test('two at once both succeed; one built, the other waited; no temporary file is left', async () => {
    const env = { ...process.env, RINGTAP_CACHE: cache };
    const run = () => execFileP('bash', [join(repoRoot, 'hack/build-controlplane.sh'), '--node'], { env, maxBuffer: 16 << 20, timeout: 600_000 })
      .then((r) => r.stdout + r.stderr);
    const outs = await Promise.all([run(), run()]);
    expect(outs.filter((o) => o.includes('building crictl')).length).toBe(1);
    expect(outs.filter((o) => o.includes('built by a concurrent run')).length).toBe(1);
    const crictl = readdirSync(join(cache, 'bin')).find((d) => d.startsWith('crictl-'))!;
    const { stdout } = await execFileP(join(cache, 'bin', crictl, 'crictl'), ['--version']);
    expect(stdout).toContain(crictl.slice('crictl-'.length));
    expect(walk(join(cache, 'bin')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(cache, 'bin', '.build.lock'))).toBe(true);
  }, 600_000);
});
