// The CRD YAML in crds/ and charts/ringtap/crds/ is generated from crds/src and checked in;
// this fails when someone changes the source without regenerating (or edits the YAML by hand).
import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { allCRDs } from '../../../crds/src/index.js';
import { CRD_DIRS, generateCRDFiles, repoRoot, staleCRDFiles } from '../../../hack/gen-crds.js';

describe('generated CRD YAML', () => {
  test('is up to date with crds/src (regenerate: npm run build && node dist/hack/gen-crds.js)', () => {
    expect(staleCRDFiles()).toEqual([]);
  });

  test('each CRD folder holds exactly the generated files', () => {
    const generated = [...generateCRDFiles().keys()];
    for (const dir of CRD_DIRS) {
      const onDisk = readdirSync(join(repoRoot(), dir)).filter((f) => f.endsWith('.yaml')).map((f) => `${dir}/${f}`).sort();
      expect(onDisk).toEqual(generated.filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/')).sort());
    }
  });

  test('the YAML parses back to exactly the CRD objects', () => {
    const files = generateCRDFiles();
    for (const crd of allCRDs()) {
      const text = files.get(`crds/ringtap.dev_${crd.spec.names.plural}.yaml`);
      expect(text).toBeDefined();
      expect(parse(text!)).toEqual(crd);
    }
  });
});
