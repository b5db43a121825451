import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // The AssemblyScript core uses decorators on functions (@inline, @external) that only asc parses;
    // it is type-checked by asc itself. Generated output and dependencies are not ours.
    ignores: ['node_modules/', 'dist/', 'dist-lib/', 'workers/cpu/build/', 'workers/cpu/assembly/', 'public/', 'build/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
);
