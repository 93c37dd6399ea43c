/** npm run emulator: the AML batch endpoint emulator alone, configured by AML_EMULATOR_* settings (see README.md). */
import { emulatorOptionsFromEnv, startAmlEmulator } from './index';

async function main(): Promise<void> {
  const opts = emulatorOptionsFromEnv(process.env);
  const emulator = await startAmlEmulator({ ...opts, log: (line) => console.log(`[aml-emulator] ${line}`) });
  console.log(
    `AML emulator ready: ${emulator.url} (scoring URI ${emulator.url}/jobs, admin ${emulator.url}/_emulator/jobs)`,
  );
  const stop = (): void => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`AML emulator failed to start: ${(err as Error).message}`);
  process.exit(1);
});
