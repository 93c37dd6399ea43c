import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.azurite/**', '.bench/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Orchestrator code replays: it must not read the clock, randomness or do I/O itself.
    files: ['src/orchestration/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'fetch', 'process'],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random' },
        { object: 'Date', property: 'now' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use context.df.currentUtcDateTime',
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/adapters/**',
            '**/activities/**',
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
);
