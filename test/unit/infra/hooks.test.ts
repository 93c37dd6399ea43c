import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bicep, build } from './deployment';
import { INFRA_DIR, REPO_ROOT, run, tool, type Tool } from './tools';

/**
 * azure.yaml, and the postdeploy hooks that create the Event Grid subscription, run under their real shells:
 * postdeploy.sh under sh and bash (and shellcheck), postdeploy.ps1 under PowerShell 7 (the .NET tool), each
 * against a stub `az` on PATH that records its arguments and answers like the Azure CLI.
 */

type Yaml = { [k: string]: string | Yaml };

/** Reads the block-mapping subset of YAML azure.yaml uses (no lists, no flow style, no multi-line scalars). */
function parseSimpleYaml(text: string): Yaml {
  const root: Yaml = {};
  const stack: Array<{ indent: number; node: Yaml }> = [{ indent: -1, node: root }];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    const m = /^([\w.-]+):(?:\s+(.*))?$/.exec(line.trim());
    if (!m) throw new Error(`Unsupported YAML line: ${raw}`);
    while (stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack[stack.length - 1]!.node;
    if (m[2] === undefined || m[2] === '') {
      const child: Yaml = {};
      parent[m[1]!] = child;
      stack.push({ indent, node: child });
    } else parent[m[1]!] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return root;
}

const azureYaml = parseSimpleYaml(readFileSync(join(REPO_ROOT, 'azure.yaml'), 'utf8'));
const sh = readFileSync(join(INFRA_DIR, 'hooks/postdeploy.sh'), 'utf8');
const ps1 = readFileSync(join(INFRA_DIR, 'hooks/postdeploy.ps1'), 'utf8');
const API_NAMES = ['PutBlob', 'PutBlockList', 'CopyBlob', 'FlushWithClose', 'SftpCommit'];
const STORAGE_ID =
  '/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg-dev/providers/Microsoft.Storage/storageAccounts/stdataabc';

describe('azure.yaml', () => {
  test('needs azd 1.25.0 or later (older azd can delete resource groups it did not create on azd down)', () => {
    expect(azureYaml.requiredVersions).toEqual({ azd: '>= 1.25.0' });
  });

  test('one service: TypeScript on Azure Functions, built locally, shipped from the staged package', () => {
    const services = azureYaml.services as Yaml;
    expect(Object.keys(services)).toEqual(['pipeline']);
    expect(services.pipeline).toEqual({
      project: '.',
      language: 'ts',
      host: 'function',
      dist: '.artifacts/package',
      remoteBuild: 'false',
    });
    // azd runs the npm `package` script before zipping `dist`; that script stages exactly there.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.package).toBe('tsx scripts/package.ts');
    // What that script stages is tested in package.test.ts.
  });

  test('postdeploy hooks point at scripts that exist', () => {
    const postdeploy = (azureYaml.hooks as Yaml).postdeploy as Yaml;
    expect(postdeploy.posix).toMatchObject({
      shell: 'sh',
      run: 'infra/hooks/postdeploy.sh',
      continueOnError: 'false',
    });
    expect(postdeploy.windows).toMatchObject({
      shell: 'pwsh',
      run: 'infra/hooks/postdeploy.ps1',
      continueOnError: 'false',
    });
    for (const os of ['posix', 'windows']) {
      expect(existsSync(join(REPO_ROOT, (postdeploy[os] as Yaml).run as string))).toBe(true);
    }
  });
});

describe.each([
  ['postdeploy.sh', sh],
  ['postdeploy.ps1', ps1],
])('%s', (_, script) => {
  test('subscribes the inbox container only, for the five blob-creating operations', () => {
    expect(script).toContain('/blobServices/default/containers/');
    expect(script).toMatch(/INBOX_CONTAINER\S* ['"]?inbox['"]?|INBOX_CONTAINER:-inbox/);
    expect(script).toMatch(/subjectBeginsWith"?\s*[:=]\s*"\/blobServices\/default\/containers\/\$\w+\/"/i);
    expect(script).toContain('Microsoft.Storage.BlobCreated');
    expect(script).toContain('StringIn');
    expect(script).toContain('data.api');
    for (const api of API_NAMES) expect(script).toMatch(new RegExp(`["']${api}["']`));
  });

  test('delivers to the blob extension webhook of inboxTrigger with the blobs_extension key', () => {
    expect(script).toContain('az functionapp keys list');
    expect(script).toContain('systemKeys.blobs_extension');
    expect(script).toMatch(/\/runtime\/webhooks\/blobs/);
    expect(script).toMatch(/functionName=Host\.Functions\.\$\w+/);
    expect(script).toMatch(
      /\$(function_name|functionName)\s*=\s*['"]inboxTrigger['"]|function_name="inboxTrigger"/,
    );
  });

  test('creates or updates in one idempotent PUT on the system topic', () => {
    expect(script).toMatch(/az rest --method put/);
    expect(script).toContain('Microsoft.EventGrid/systemTopics/');
    expect(script).toContain('/eventSubscriptions/');
    expect(script).not.toMatch(/event-subscription create/);
  });

  test('dead-letters with the system topic identity into the dead-letter container', () => {
    expect(script).toContain('deadLetterWithResourceIdentity');
    expect(script).toContain('SystemAssigned');
    expect(script).toContain('StorageBlob');
    expect(script).toMatch(/DEADLETTER_CONTAINER\S* ['"]?deadletter['"]?|DEADLETTER_CONTAINER:-deadletter/);
  });

  (bicep ? test : test.skip)(
    'reads only Bicep outputs and azd/well-known variables from the environment',
    () => {
      const outputs = Object.keys((JSON.parse(build().stdout) as { outputs: object }).outputs);
      const allowed = new Set([
        ...outputs,
        'AZURE_SUBSCRIPTION_ID',
        'POSTDEPLOY_ATTEMPTS',
        'POSTDEPLOY_RETRY_SECONDS',
      ]);
      const read = new Set<string>();
      for (const m of script.matchAll(/\$\{([A-Z][A-Z0-9_]+)[:?}-]|Get-Setting '([A-Z][A-Z0-9_]+)'/g))
        read.add((m[1] ?? m[2])!);
      expect(read.size).toBeGreaterThan(4);
      expect([...read].filter((v) => !allowed.has(v))).toEqual([]);
    },
  );
});

const posixShells = ['sh', 'bash'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);
const shellcheck = process.platform === 'win32' ? undefined : tool('shellcheck');
const pwsh = tool('pwsh');

/** A fake `az` (and `curl`) in `dir` that logs its calls and answers like the real CLI would. */
function stubAz(dir: string, keyAfterCalls: number): void {
  writeFileSync(
    join(dir, 'az'),
    `#!/bin/sh
echo "$*" >> "$STUB_DIR/calls.log"
case "$*" in
  "account show --output none") exit 0 ;;
  "account show --query id --output tsv") echo "sub-from-cli"; exit 0 ;;
  "cloud show"*) echo "https://management.azure.com/"; exit 0 ;;
  "functionapp keys list"*)
    n=$(cat "$STUB_DIR/keys.count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$STUB_DIR/keys.count"
    if [ "$n" -ge ${keyAfterCalls} ]; then echo "k+y/Z=="; fi
    exit 0 ;;
  "rest --method put"*)
    body=$(echo "$*" | sed -e 's/.*--body @\\([^ ]*\\).*/\\1/')
    cp "$body" "$STUB_DIR/body.json"; echo "$body" > "$STUB_DIR/body.path"; exit 0 ;;
  "rest --method get"*) echo "Succeeded"; exit 0 ;;
esac
echo "unexpected az call: $*" >&2; exit 2
`,
  );
  writeFileSync(join(dir, 'curl'), '#!/bin/sh\necho "curl $*" >> "$STUB_DIR/calls.log"\n');
  chmodSync(join(dir, 'az'), 0o755);
  chmodSync(join(dir, 'curl'), 0o755);
}

function hookEnv(dir: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${dir}:${process.env.PATH}`,
    HOME: process.env.HOME,
    STUB_DIR: dir,
    RESOURCE_GROUP: 'rg-dev',
    AZURE_FUNCTION_APP_NAME: 'func-abc',
    AZURE_FUNCTION_APP_HOSTNAME: 'func-abc.azurewebsites.net',
    EVENT_GRID_SYSTEM_TOPIC_NAME: 'egst-abc',
    AZURE_STORAGE_ACCOUNT_ID: STORAGE_ID,
    AZURE_SUBSCRIPTION_ID: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
    POSTDEPLOY_RETRY_SECONDS: '0',
    ...extra,
  };
}

interface Body {
  properties: {
    destination: { endpointType: string; properties: { endpointUrl: string } };
    filter: { subjectBeginsWith: string };
    deadLetterWithResourceIdentity: unknown;
  };
}

/** What both hooks must have sent, given the stub's key k+y/Z== and the environment above. */
function expectSubscription(dir: string, stdout: string): void {
  const calls = readFileSync(join(dir, 'calls.log'), 'utf8');
  expect(calls).toContain(
    'rest --method put --uri https://management.azure.com/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg-dev/providers/Microsoft.EventGrid/systemTopics/egst-abc/eventSubscriptions/inbox-blob-created?api-version=2022-06-15',
  );
  const body = JSON.parse(readFileSync(join(dir, 'body.json'), 'utf8')) as Body;
  expect(body.properties.destination.endpointType).toBe('WebHook');
  expect(body.properties.destination.properties.endpointUrl).toBe(
    'https://func-abc.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.inboxTrigger&code=k%2By%2FZ%3D%3D',
  );
  expect(body.properties.filter).toEqual({
    includedEventTypes: ['Microsoft.Storage.BlobCreated'],
    subjectBeginsWith: '/blobServices/default/containers/inbox/',
    advancedFilters: [{ operatorType: 'StringIn', key: 'data.api', values: API_NAMES }],
  });
  expect(body.properties.deadLetterWithResourceIdentity).toEqual({
    identity: { type: 'SystemAssigned' },
    deadLetterDestination: {
      endpointType: 'StorageBlob',
      properties: { resourceId: STORAGE_ID, blobContainerName: 'deadletter' },
    },
  });
  // The body file held the key: it must be gone, and the key must not be printed.
  expect(existsSync(readFileSync(join(dir, 'body.path'), 'utf8').trim())).toBe(false);
  expect(stdout).not.toContain('k+y/Z==');
  expect(stdout).not.toContain('k%2By');
}

(shellcheck ? test : test.skip)('postdeploy.sh passes shellcheck as POSIX sh', () => {
  const r = run(shellcheck!, ['--shell=sh', '--severity=style', join(INFRA_DIR, 'hooks/postdeploy.sh')]);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(0);
});

(process.platform !== 'win32' && posixShells.length > 0 ? describe : describe.skip)(
  'postdeploy.sh against a stub az',
  () => {
    let dir: string;
    const runHook = (shell: string, extra: Record<string, string> = {}) =>
      spawnSync(shell, [join(INFRA_DIR, 'hooks/postdeploy.sh')], {
        encoding: 'utf8',
        env: hookEnv(dir, extra),
      });

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'postdeploy-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    test.each(posixShells)(
      'with %s: waits for the key, then PUTs the filtered, dead-lettered subscription',
      (shell) => {
        stubAz(dir, 3);
        const result = runHook(shell);
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(readFileSync(join(dir, 'calls.log'), 'utf8').match(/functionapp keys list/g)).toHaveLength(3);
        expectSubscription(dir, result.stdout);
      },
    );

    test('uses INBOX_CONTAINER when set', () => {
      stubAz(dir, 1);
      expect(runHook(posixShells[0]!, { INBOX_CONTAINER: 'drop-zone' }).status).toBe(0);
      const body = JSON.parse(readFileSync(join(dir, 'body.json'), 'utf8')) as Body;
      expect(body.properties.filter.subjectBeginsWith).toBe('/blobServices/default/containers/drop-zone/');
    });

    test('fails clearly when the key never appears', () => {
      stubAz(dir, 99);
      const result = runHook(posixShells[0]!, { POSTDEPLOY_ATTEMPTS: '2' });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/no blobs_extension key after 2 attempts/);
      expect(readFileSync(join(dir, 'calls.log'), 'utf8')).not.toContain('rest --method put');
    });

    test('fails clearly when an output is missing', () => {
      stubAz(dir, 1);
      const result = runHook(posixShells[0]!, { AZURE_STORAGE_ACCOUNT_ID: '' });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/AZURE_STORAGE_ACCOUNT_ID/);
    });
  },
);

(pwsh && process.platform !== 'win32' ? describe : describe.skip)('postdeploy.ps1 under PowerShell 7', () => {
  let dir: string;
  const ps1 = join(INFRA_DIR, 'hooks/postdeploy.ps1');
  const runHook = (extra: Record<string, string> = {}) =>
    run(pwsh as Tool, ['-NoProfile', '-NonInteractive', '-File', ps1], { env: hookEnv(dir, extra) });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'postdeploy-ps1-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('parses', () => {
    const result = run(pwsh!, [
      '-NoProfile',
      '-Command',
      `$e = $null; [System.Management.Automation.Language.Parser]::ParseFile('${ps1}', [ref]$null, [ref]$e) | Out-Null; if ($e) { $e | ForEach-Object { $_.ToString() }; exit 1 }`,
    ]);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  test('PUTs the same filtered, dead-lettered subscription as postdeploy.sh', () => {
    stubAz(dir, 1);
    const result = runHook();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expectSubscription(dir, result.stdout);
  });

  test('fails clearly when the key never appears', () => {
    stubAz(dir, 99);
    const result = runHook({ POSTDEPLOY_ATTEMPTS: '1' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no blobs_extension key after 1 attempts/);
  });
});
