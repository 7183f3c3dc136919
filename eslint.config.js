// Lint: type-aware typescript-eslint rules plus the import boundaries of ARCHITECTURE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns) => ({
  'no-restricted-imports': ['error', { patterns }],
});

const backendImports = [
  { group: ['**/store/sqlite/**', '**/store/sqlite/*', '**/store/postgres/**'], message: 'Use the MailStore interface (store/types); only main/compose knows backends.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.tmp/**', 'scripts/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // wire/: sans-I/O. No sockets, no store, no config.
    files: ['src/wire/**/*.ts'],
    rules: restrict([
      { group: ['node:net', 'node:tls', 'net', 'tls', 'node:fs', 'fs'], message: 'wire/ is sans-I/O.' },
      { group: ['**/store/**', '**/config/**', '**/net/**', '**/imap/**', '**/smtp/**', '**/pop3/**', '**/auth/**'], message: 'wire/ imports nothing of the project but tiny utilities.' },
    ]),
  },
  {
    // auth/: the store interface only, never a protocol.
    files: ['src/auth/**/*.ts'],
    rules: restrict([
      ...backendImports,
      { group: ['**/imap/**', '**/smtp/**', '**/pop3/**', '**/net/**'], message: 'auth/ never imports a protocol.' },
    ]),
  },
  {
    // Protocol sessions: wire, auth, net and interfaces; never a backend.
    files: ['src/imap/**/*.ts', 'src/smtp/**/*.ts', 'src/pop3/**/*.ts', 'src/delivery/**/*.ts', 'src/cli/**/*.ts', 'src/admin/**/*.ts', 'src/import/**/*.ts', 'src/http/**/*.ts', 'src/queue/**/*.ts'],
    rules: restrict(backendImports),
  },
  {
    files: ['src/mime/**/*.ts'],
    rules: restrict([
      { group: ['**/store/**', '**/config/**', '**/net/**', '**/imap/**', '**/smtp/**', '**/pop3/**'], message: 'mime/ is a pure library.' },
    ]),
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
