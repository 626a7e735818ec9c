// Four projects: unit (parallel), integration (one real control plane per run), e2e
// (control plane + simulated nodes + operator/agent processes) and guest (run inside a qemu
// guest under a stock Debian kernel by hack/jest-guest.sh: PPP, L2TP and other kernel paths
// this host lacks). integration, e2e and guest run serially (--runInBand in hack/jest.sh).
import { createDefaultEsmPreset } from 'ts-jest';

const preset = createDefaultEsmPreset({ tsconfig: 'tsconfig.json' });
const common = {
  ...preset,
  testEnvironment: 'node',
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // .run/ holds local clusters (etcd's *.snap files would read as obsolete Jest snapshots).
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.run/'],
  setupFiles: ['<rootDir>/test/support/sources.ts'],
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    // A real kubelet + containerd node running the chart (one per host: run alone).
    {
      ...common,
      displayName: 'realnode',
      testMatch: ['<rootDir>/test/realnode/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    // Only test/guest is crawled: walking the whole tree over the guest's 9p share takes seconds.
    { ...common, displayName: 'guest', testMatch: ['<rootDir>/test/guest/**/*.test.ts'], roots: ['<rootDir>/test/guest'] },
  ],
};
