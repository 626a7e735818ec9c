// The import boundaries of eslint.config.js bite: a crossing added on purpose fails lint, and
// the imports each room is allowed stay allowed. ESLint runs in a child process on virtual
// files (lintText with a path inside each room), so no file is written into the tree.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../../..');

interface Case { name: string; file: string; code: string; crossing: boolean }

const cases: Case[] = [
  { name: 'operator imports the agent', file: 'operator/src/crossing.ts', code: "import { compileFilter } from '../../agent/src/native.js';\n", crossing: true },
  { name: 'operator imports the cli', file: 'operator/src/controllers/crossing.ts', code: "import type { ParsedCli } from '../../../cli/src/args.js';\n", crossing: true },
  { name: 'agent imports the operator', file: 'agent/src/crossing.ts', code: "import { taskName } from '../../operator/src/controllers/shared/parent.js';\n", crossing: true },
  { name: 'agent re-exports the cli', file: 'agent/src/drivers/crossing.ts', code: "export * from '../../../cli/src/status.js';\n", crossing: true },
  { name: 'cli imports the agent', file: 'cli/src/crossing.ts', code: "import type { NodeCapabilities } from '../../agent/src/node/capabilities.js';\n", crossing: true },
  { name: 'lib imports the operator', file: 'lib/kube/crossing.ts', code: "import type { FilterValidator } from '../../operator/src/controllers/shared/parent.js';\n", crossing: true },
  { name: 'product code imports test support', file: 'operator/src/crossing.ts', code: "import { waitFor } from '../../test/support/kube.js';\n", crossing: true },
  { name: 'crds imports lib', file: 'crds/src/crossing.ts', code: "import type { KubeObject } from '../../lib/kube/kube.js';\n", crossing: true },
  { name: 'operator imports lib and crds', file: 'operator/src/ok.ts', code: "import { Informer } from '../../lib/kube/informer.js';\nimport { NodeTaskType } from '../../crds/src/index.js';\nexport { Informer, NodeTaskType };\n", crossing: false },
  { name: 'agent imports its own files, lib and crds', file: 'agent/src/drivers/ok.ts', code: "import { captureDir } from '../files.js';\nimport { registry } from '../../../lib/observe/metrics.js';\nimport { GROUP } from '../../../crds/src/index.js';\nexport { captureDir, registry, GROUP };\n", crossing: false },
  { name: 'lib imports crds', file: 'lib/pcapng/ok.ts', code: "import { MAX_SNAP_LENGTH } from '../../crds/src/defaults.js';\nexport { MAX_SNAP_LENGTH };\n", crossing: false },
  { name: 'crds imports crds', file: 'crds/src/ok.ts', code: "import { GROUP } from './meta.js';\nexport { GROUP };\n", crossing: false },
];

// One ESLint (the repository's config) for every case; prints [{ruleId, message}] per case.
const script = `
import { ESLint } from 'eslint';
const cases = JSON.parse(process.argv[1]);
const eslint = new ESLint({ cwd: process.cwd() });
const out = [];
for (const c of cases) {
  const [r] = await eslint.lintText(c.code, { filePath: c.file });
  out.push(r.messages.map((m) => ({ ruleId: m.ruleId, message: m.message })));
}
process.stdout.write(JSON.stringify(out));
`;

describe('import boundaries', () => {
  const results = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(cases)], { cwd: repo, encoding: 'utf8' })) as { ruleId: string | null; message: string }[][];

  test.each(cases.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
    const restricted = results[i]!.filter((m) => m.ruleId === 'no-restricted-imports');
    if (c.crossing) {
      expect(restricted).toHaveLength(1);
      expect(restricted[0]!.message).toMatch(/imports only|shared by every process|does not import tests|is the contract/);
    } else {
      expect(results[i]).toEqual([]);
    }
  });
});
