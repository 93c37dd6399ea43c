import tseslint from 'typescript-eslint';

/**
 * Layers point down: functions → handlers → app (composition root) → activities → adapters → domain.
 * orchestration sits beside activities and may use only domain. Each folder names what it must not import.
 */
const layer = (...names) => names.map((n) => `**/${n}/**`).concat(names.map((n) => `../${n}/*`));

// Replayed code (the orchestrator) and the pure rules it imports must not read clocks or randomness.
const clockAndRandom = {
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: 'Not deterministic under replay.' },
    { object: 'Date', property: 'now', message: 'Use context.df.currentUtcDateTime (or pass the time in).' },
    { object: 'performance', property: 'now', message: 'Not deterministic under replay.' },
    { object: 'crypto', property: 'randomUUID', message: 'Not deterministic under replay.' },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: 'Use context.df.currentUtcDateTime (or pass the time in).',
    },
    { selector: "CallExpression[callee.name='Date']", message: 'Date() reads the clock.' },
  ],
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'coverage/**',
      '.azurite/**',
      '.bench/**',
      '.tools/**',
      'web/dist/**',
      '.artifacts/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Orchestrator code replays: no clock, randomness, timers or I/O of its own.
    files: ['src/orchestration/**/*.ts'],
    rules: {
      ...clockAndRandom,
      'no-restricted-globals': [
        'error',
        'setTimeout',
        'setInterval',
        'setImmediate',
        'queueMicrotask',
        'fetch',
        'process',
        'crypto',
        'performance',
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...layer('adapters', 'activities', 'config', 'handlers', 'functions', 'app'),
            '@azure/storage-blob',
            '@azure/data-tables',
            '@azure/identity',
            'fs',
            'node:*',
            'crypto',
          ],
        },
      ],
    },
  },
  {
    // Pure rules: no settings, no SDKs, no clock or randomness (the orchestrator imports them).
    files: ['src/domain/**/*.ts'],
    rules: {
      ...clockAndRandom,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...layer('config', 'adapters', 'activities', 'handlers', 'functions', 'app', 'orchestration'),
            '@azure/*',
          ],
        },
      ],
    },
  },
  {
    files: ['src/adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: layer('activities', 'handlers', 'functions', 'app') }],
    },
  },
  {
    files: ['src/activities/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: layer('handlers', 'functions') }],
    },
  },
  {
    files: ['src/app/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: layer('handlers', 'functions') }],
    },
  },
  {
    files: ['src/handlers/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: layer('functions') }],
    },
  },
);
