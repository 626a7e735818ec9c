import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries (docs/architecture.md): operator, agent and cli are separate processes and
// import only the shared library (lib/) and the API contract (crds/), never each other; lib/
// imports only crds/; crds/ imports nothing of ours. A crossing fails `npm run lint` (and so CI);
// test/unit/boundaries.test.ts proves the rule bites.
const room = (name) => `(^|/)${name}/`;
const forbid = (rooms, why) => ({ regex: `(${rooms.map(room).join('|')})`, message: why });
const boundary = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const notTestsOrTools = forbid(['test', 'hack'], 'product code does not import tests or developer tools.');

export const BOUNDARIES = [
  {
    files: ['operator/**/*.ts'],
    rules: boundary(forbid(['agent', 'cli'], 'the operator imports only lib/ and crds/ (and npm packages); move shared code to lib/ or crds/.'), notTestsOrTools),
  },
  {
    files: ['agent/src/**/*.ts', 'agent/src/**/*.mjs'],
    rules: boundary(forbid(['operator', 'cli'], 'the agent imports only lib/, crds/ and its own files; move shared code to lib/ or crds/.'), notTestsOrTools),
  },
  {
    files: ['cli/**/*.ts'],
    rules: boundary(forbid(['operator', 'agent'], 'the CLI imports only lib/ and crds/; move shared code to lib/ or crds/.'), notTestsOrTools),
  },
  {
    files: ['lib/**/*.ts'],
    rules: boundary(forbid(['operator', 'agent', 'cli'], 'lib/ is shared by every process: it imports only crds/ (and npm packages).'), notTestsOrTools),
  },
  {
    files: ['crds/**/*.ts'],
    rules: boundary({ regex: '^\\.\\./\\.\\./', message: 'crds/ is the contract: it imports nothing of ours outside crds/.' }),
  },
];

export default tseslint.config(
  { ignores: ['dist/**', '.run/**', 'node_modules/**', 'agent/native/build/**', 'charts/**', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...BOUNDARIES,
);
