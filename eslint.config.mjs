// eslint: typescript-eslint's type-aware rules over the packages' sources (floating promises, unsafe any,
// misused promises, unnecessary assertions), plus @eslint/js's recommended set. Formatting is prettier's job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['packages/*/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // An async function without await is how an interface's async method is implemented synchronously.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The CNI plugin is CommonJS-consumable and loads some modules lazily for start-up time.
    files: ['packages/cni-shim/src/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
