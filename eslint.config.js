import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// core/ is the pure domain: no I/O, no frameworks. This rule keeps it that way.
const impureModules = [
  'fs',
  'node:fs',
  'fs/promises',
  'node:fs/promises',
  'child_process',
  'node:child_process',
  'net',
  'node:net',
  'http',
  'node:http',
  'https',
  'node:https',
  'dgram',
  'node:dgram',
  'kysely',
  'hono',
  'pg',
  'better-sqlite3',
  'pino',
  'commander',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'coverage/**',
      'examples/jobs/assembly/**',
      'examples/jobs/build/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.property.name='exec'][arguments.0.type='TemplateLiteral']",
          message:
            'Spawn child processes with argument arrays through ProcessRunner, never shell strings.',
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: impureModules,
          patterns: ['../db/*', '../drivers/*', '../coordinator/*', '../agent/*', '../cli/*'],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'fetch', 'setTimeout', 'setInterval'],
    },
  },
  {
    files: [
      'src/cli/**/*.ts',
      'src/coordinator/**/*.ts',
      'src/agent/**/*.ts',
      'src/db/**/*.ts',
      'src/drivers/**/*.ts',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'exit',
          message: 'Only src/cli/main.ts may call process.exit.',
        },
      ],
    },
  },
  {
    files: ['src/cli/main.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // The dashboard's pages: plain ES modules served to the browser as they are.
    files: ['src/dashboard/static/**/*.mjs'],
    languageOptions: { globals: globals.browser },
  },
);
