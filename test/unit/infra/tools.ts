import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  openSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

/**
 * The real tools the infra tests run, found the repo's way and cached in the ignored .tools/ folder:
 *   - bicep: the Azure.Bicep.CommandLine.linux-x64 NuGet package (tools/bicep/bicep.csproj, restored on first
 *     use), else a `bicep` on PATH, else the binary `az bicep install` put in ~/.azure/bin;
 *   - pwsh: the .NET tool PowerShell (.config/dotnet-tools.json, `dotnet tool restore`), else a pwsh on PATH;
 *   - shellcheck: on PATH (Debian package; .ci/run installs it).
 * A missing tool skips its tests with one line on stderr, except under CI=true, where it fails them.
 */

export const REPO_ROOT = resolve(__dirname, '../../..');
export const INFRA_DIR = join(REPO_ROOT, 'infra');
export const TOOLS_DIR = join(REPO_ROOT, '.tools');
const NUGET_DIR = join(TOOLS_DIR, 'nuget');
const BICEP_VERSION = '0.49.2';

export interface Tool {
  name: string;
  /** Command and leading arguments. */
  command: string[];
  env?: NodeJS.ProcessEnv;
}

const ok = (r: SpawnSyncReturns<string>) => r.status === 0 && !r.error;
const quiet = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) =>
  spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', env: env ?? process.env });
const onPath = (cmd: string, versionArgs = ['--version']) => ok(quiet(cmd, versionArgs));
const hasDotnet = () => onPath('dotnet');

function nugetBicep(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const path = join(NUGET_DIR, 'azure.bicep.commandline.linux-x64', BICEP_VERSION, 'tools', 'bicep');
  if (!existsSync(path) && hasDotnet()) {
    const r = quiet('dotnet', ['restore', 'tools/bicep/bicep.csproj', '--verbosity', 'quiet']);
    if (!ok(r)) throw new Error(`dotnet restore tools/bicep/bicep.csproj failed:\n${r.stdout}${r.stderr}`);
  }
  return existsSync(path) ? path : undefined;
}

function findBicep(): Tool | undefined {
  const nuget = nugetBicep();
  if (nuget) return { name: `bicep ${BICEP_VERSION} (NuGet)`, command: [nuget] };
  if (onPath('bicep')) return { name: 'bicep (PATH)', command: ['bicep'] };
  const azBicep = join(homedir(), '.azure', 'bin', process.platform === 'win32' ? 'bicep.exe' : 'bicep');
  if (onPath('az', ['bicep', 'version']) && existsSync(azBicep))
    return { name: 'bicep (az)', command: [azBicep] };
  return undefined;
}

function findPwsh(): Tool | undefined {
  // dotnet tool run finds the tool in NUGET_PACKAGES: keep it in .tools/ like the Bicep CLI. Its resolver
  // cache lives under DOTNET_CLI_HOME (default ~/.dotnet) and records absolute paths: a home of the clone's own,
  // so one clone's cache never points another (or a deleted one) at a package that is not there.
  const env = {
    ...process.env,
    NUGET_PACKAGES: NUGET_DIR,
    DOTNET_CLI_HOME: join(TOOLS_DIR, 'dotnet-home'),
    DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    DOTNET_NOLOGO: '1',
  };
  if (hasDotnet()) {
    const probe = () => ok(quiet('dotnet', ['tool', 'run', 'pwsh', '-NoProfile', '-Command', 'exit 0'], env));
    if (!probe()) {
      const r = quiet('dotnet', ['tool', 'restore'], env);
      if (!ok(r)) throw new Error(`dotnet tool restore failed:\n${r.stdout}${r.stderr}`);
    }
    if (probe()) return { name: 'pwsh (.NET tool)', command: ['dotnet', 'tool', 'run', 'pwsh'], env };
  }
  if (onPath('pwsh', ['-NoProfile', '-Command', 'exit 0'])) return { name: 'pwsh (PATH)', command: ['pwsh'] };
  return undefined;
}

function findShellcheck(): Tool | undefined {
  return onPath('shellcheck') ? { name: 'shellcheck', command: ['shellcheck'] } : undefined;
}

const finders = { bicep: findBicep, pwsh: findPwsh, shellcheck: findShellcheck };
const found = new Map<keyof typeof finders, Tool | undefined>();

/**
 * The tool, or undefined when it is missing on a user's machine (after printing one line saying so).
 * Under CI=true a missing tool throws: no infra test may be skipped in CI.
 */
export function tool(name: keyof typeof finders): Tool | undefined {
  if (!found.has(name)) found.set(name, finders[name]());
  const t = found.get(name);
  if (!t) {
    const how = {
      bicep: 'install the .NET SDK (tools/bicep/bicep.csproj restores it), or bicep / az bicep',
      pwsh: 'install the .NET SDK (dotnet tool restore), or PowerShell 7',
      shellcheck: 'apt-get install shellcheck',
    }[name];
    if (process.env.CI === 'true') throw new Error(`CI=true and ${name} is missing: ${how}`);
    // One line per jest run, not per test file: the files share the parent process (jest, or the shell when
    // jest runs in band), so the first to claim the marker prints.
    try {
      closeSync(openSync(join(tmpdir(), `aml-infra-skip-${process.ppid}-${name}`), 'wx'));
      process.stderr.write(`infra tests: ${name} not found, its tests are skipped (${how}).\n`);
    } catch {
      // already said
    }
  }
  return t;
}

export function run(t: Tool, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const [cmd, ...lead] = t.command;
  return spawnSync(cmd!, [...lead, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    encoding: 'utf8',
    env: { ...(t.env ?? process.env), ...opts.env },
    maxBuffer: 64 * 1024 * 1024,
  });
}

// ------------------------------------------------------------------------------------------------------------
// Compile once per change: results are cached under .tools/cache/<hash of the inputs>/
// ------------------------------------------------------------------------------------------------------------

function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => (statSync(join(dir, e)).isDirectory() ? filesUnder(join(dir, e)) : [join(dir, e)]));
}

/** Hash of everything a compile depends on (the tool, infra/, bicepconfig.json) plus the caller's key. */
function inputsHash(t: Tool, key: string): string {
  const h = createHash('sha256').update(t.name).update(key);
  for (const f of [...filesUnder(INFRA_DIR), join(REPO_ROOT, 'bicepconfig.json')]) {
    h.update(relative(REPO_ROOT, f)).update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `produce` once for these inputs and caches its result (written atomically, so two jest workers at most
 * repeat the work, never read half of it).
 */
export function cached(t: Tool, key: string, produce: (dir: string) => Result): Result {
  const dir = join(TOOLS_DIR, 'cache', inputsHash(t, key));
  const file = join(dir, `${key}.result.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Result;
  mkdirSync(dir, { recursive: true });
  const result = produce(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(result));
  renameSync(tmp, file);
  return result;
}

export const asResult = (r: SpawnSyncReturns<string>): Result => ({
  status: r.status ?? -1,
  stdout: r.stdout ?? '',
  stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
});
