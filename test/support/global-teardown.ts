import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const clusterScript = join(dirname(fileURLToPath(import.meta.url)), '../../hack/cluster');

export default async function globalTeardown(): Promise<void> {
  if (process.env.RINGTAP_TEST_CLUSTER_UP !== '1' || process.env.RINGTAP_KEEP_CLUSTER === '1') return;
  execFileSync('bash', [clusterScript, 'down'], { stdio: 'inherit', env: process.env });
  delete process.env.RINGTAP_TEST_CLUSTER_UP;
}
