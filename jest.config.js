/**
 * One run, three layers: unit (pure, no Azurite), integration (Azurite + real HTTP), e2e (the whole local stack).
 * Azurite starts only when a project that needs it runs: `npm run test:unit` (= `jest --selectProjects unit`)
 * starts nothing.
 */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // The staged deployment package (npm run package) holds a copy of package.json.
  modulePathIgnorePatterns: ['<rootDir>/.artifacts/'],
  // A limit on a hung test, not a timing assertion: a loaded 2-core machine needs more than jest's 5 s
  // for the tests that talk to Azurite.
  testTimeout: 30_000,
};
const selected = process.argv.indexOf('--selectProjects');
const unitOnly =
  selected >= 0 && process.argv[selected + 1] === 'unit' && !/^[^-]/.test(process.argv[selected + 2] ?? '-');
/** Unit tests that talk to Azurite belong to the integration layer. */
const needsAzurite = ['<rootDir>/test/unit/smoke.test.ts'];

module.exports = {
  ...(unitOnly
    ? {}
    : {
        globalSetup: '<rootDir>/test/support/globalSetup.ts',
        globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
      }),
  maxWorkers: 2,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...needsAzurite],
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', ...needsAzurite],
    },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};
