// One local control plane per test run (integration and e2e projects), started with the
// same hack/cluster machinery the demo uses, in a run directory of its own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

// Jest loads this file outside its module mapper, so it imports no local module.
const clusterScript = join(dirname(fileURLToPath(import.meta.url)), '../../hack/cluster');

export default async function globalSetup(): Promise<void> {
  if (process.env.RINGTAP_TEST_CLUSTER_UP === '1') return; // a second project in the same run
  const runDir = process.env.RINGTAP_TEST_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'ringtap-test-'));
  process.env.RINGTAP_RUN_DIR = runDir;
  try {
    execFileSync('bash', [clusterScript, 'up'], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  } catch (err) {
    execFileSync('bash', [clusterScript, 'down'], { stdio: 'inherit', env: process.env });
    throw err;
  }
  process.env.KUBECONFIG = join(runDir, 'admin.kubeconfig');
  process.env.RINGTAP_APISERVER_URL = /^APISERVER_URL=(.*)$/m.exec(readFileSync(join(runDir, 'cluster.env'), 'utf8'))?.[1] ?? '';
  process.env.RINGTAP_TEST_CLUSTER_UP = '1';
}
