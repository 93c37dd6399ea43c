import { spawn, spawnSync } from 'node:child_process';
import { existsSync, copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { emulatorOptionsFromEnv, startAmlEmulator } from './aml-emulator';
import { startAzurite } from './azurite';

/**
 * `npm run start:func`: the same app under the real Functions host, for users who have Azure Functions
 * Core Tools v4. Starts Azurite and the AML emulator on their standard ports, builds, then `func start`
 * with local.settings.json (copied from the sample on first use). Our build machines cannot install
 * Core Tools, so this path is documented and kept correct by construction rather than run in CI.
 */
const root = resolve(__dirname, '..');
const DEV = 'UseDevelopmentStorage=true';

async function main(): Promise<void> {
  const which = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['func'], { encoding: 'utf8' });
  if (which.status !== 0) {
    console.error(
      'Azure Functions Core Tools (`func`) is not on PATH. Install v4 (https://learn.microsoft.com/azure/azure-functions/functions-run-local), or use `npm start`, which runs the app under the local runtime.',
    );
    process.exit(1);
  }
  const settingsFile = join(root, 'local.settings.json');
  if (!existsSync(settingsFile)) {
    copyFileSync(join(root, 'local.settings.sample.json'), settingsFile);
    console.log('created local.settings.json from local.settings.sample.json');
  }
  const azurite = await startAzurite({
    blobPort: 10000,
    queuePort: 10001,
    tablePort: 10002,
    location: join(root, '.azurite'),
  });
  const blobs = BlobServiceClient.fromConnectionString(DEV);
  for (const c of ['inbox', 'outbox', 'quarantine']) await blobs.getContainerClient(c).createIfNotExists();
  await TableClient.fromConnectionString(DEV, 'jobs', { allowInsecureConnection: true })
    .createTable()
    .catch(() => undefined);
  const emulator = await startAmlEmulator({
    ...emulatorOptionsFromEnv(process.env),
    port: 7072,
    storageConnectionString: DEV,
    // As under `npm start`: the jobs outlive a restart.
    stateContainer: process.env.AML_EMULATOR_STATE_CONTAINER || 'aml-emulator-jobs',
  });

  const build = spawnSync('npm', ['run', 'build'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const func = spawn('func', ['start'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  // Exits only once func, the emulator and Azurite are gone.
  const funcExited = new Promise<void>((resolve) => func.once('exit', () => resolve()));
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (func.exitCode === null && func.signalCode === null) func.kill('SIGINT');
    await funcExited;
    await emulator.close();
    await azurite.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  func.on('exit', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
