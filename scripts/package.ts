/**
 * Stages the deployment package in .artifacts/package/: dist/ (the compiled app and the dashboard in dist/web/),
 * host.json, package.json and production node_modules only (`npm ci --omit=dev`). azd runs it as the npm
 * `package` script and zips `dist: .artifacts/package` (azure.yaml); without azd, `npm run package -- --zip`
 * also writes .artifacts/package.zip for `az functionapp deployment source config-zip`.
 *
 * Why: azd used to zip the project folder with the dev dependencies' node_modules (~389 MB unpacked, against
 * ~72 MB for production). docs/deploy.md has the measured zip sizes.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// --root <dir> packages another project (the test packages a small fixture); default: this repository.
const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? resolve(process.argv[rootArg + 1]!) : resolve(__dirname, '..');
const stage = join(root, '.artifacts', 'package');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const sh = (cmd: string, args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(cmd, args, { cwd, env, stdio: 'inherit', shell: process.platform === 'win32' });

// azd has built already, but `npm run package` alone must not ship a stale dist/.
sh(npm, ['run', 'build']);
sh(npm, ['run', 'build:web', '--if-present']);
if (!existsSync(join(root, 'dist', 'src', 'index.js')))
  throw new Error('dist/src/index.js is missing after the build');

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
cpSync(join(root, 'dist'), join(stage, 'dist'), { recursive: true });
for (const f of ['host.json', 'package.json', 'package-lock.json']) cpSync(join(root, f), join(stage, f));
// azd applies this folder's .funcignore instead of its default exclusions (which could drop node_modules).
writeFileSync(join(stage, '.funcignore'), '.funcignore\n');

// Production dependencies exactly as locked; no install scripts (none of them needs one).
sh(npm, ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], stage, {
  ...process.env,
  NODE_ENV: 'production',
});

if (process.argv.includes('--zip')) {
  const zip = join(root, '.artifacts', 'package.zip');
  rmSync(zip, { force: true });
  execFileSync('zip', ['-qr', '-X', zip, '.'], { cwd: stage, stdio: 'inherit' });
  console.log(`package: ${zip} (${(statSync(zip).size / 1024 ** 2).toFixed(1)} MB)`);
}
console.log(`package: staged in ${stage}`);
