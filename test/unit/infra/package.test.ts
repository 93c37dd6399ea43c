import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './tools';

/**
 * scripts/package.ts (the npm `package` script azd runs before zipping `.artifacts/package`) on a small project
 * with one production and one dev dependency (local folders, so npm needs no registry): the staged package has
 * dist/ with dist/web/, host.json, package.json, the lock file and production node_modules, and nothing else.
 */

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('scripts/package.ts', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'package-'));
    for (const name of ['prod-dep', 'dev-dep']) {
      mkdirSync(join(dir, 'deps', name), { recursive: true });
      writeFileSync(join(dir, 'deps', name, 'package.json'), JSON.stringify({ name, version: '1.0.0' }));
    }
    const write = (file: string) =>
      `node -e "const f=require('fs');f.mkdirSync(require('path').dirname('${file}'),{recursive:true});f.writeFileSync('${file}','')"`;
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'fixture',
        version: '1.0.0',
        private: true,
        main: 'dist/src/index.js',
        scripts: { build: write('dist/src/index.js'), 'build:web': write('dist/web/index.html') },
        dependencies: { 'prod-dep': 'file:./deps/prod-dep' },
        devDependencies: { 'dev-dep': 'file:./deps/dev-dep' },
      }),
    );
    writeFileSync(join(dir, 'host.json'), '{"version":"2.0"}');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'index.ts'), '');
    const install = spawnSync(npm, ['install', '--offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(install.status).toBe(0);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('stages dist/ (with dist/web/), host.json, package files and production dependencies only', () => {
    const r = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/package.ts', '--root', dir],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      },
    );
    expect(r.stderr).not.toMatch(/ERR!/);
    expect(r.status).toBe(0);
    const stage = join(dir, '.artifacts', 'package');
    expect(readdirSync(stage).sort()).toEqual(
      ['.funcignore', 'dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json'].sort(),
    );
    expect(existsSync(join(stage, 'dist', 'src', 'index.js'))).toBe(true);
    expect(existsSync(join(stage, 'dist', 'web', 'index.html'))).toBe(true);
    const modules = readdirSync(join(stage, 'node_modules')).filter((m) => !m.startsWith('.'));
    expect(modules).toEqual(['prod-dep']);
  });
});
