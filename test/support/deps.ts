import { buildDeps, type Deps } from '../../src/app/deps';
import { loadSettings } from '../../src/config/settings';
import { testConnectionString, uniqueName } from './storage';

/** Real adapters on the test Azurite, with containers and table unique to the caller. */
export async function testDeps(env: Record<string, string> = {}): Promise<Deps> {
  const cs = testConnectionString();
  const s = loadSettings({
    DataStorage: cs,
    AmlDatastoreStorage: cs,
    AML_SCORING_URI: 'http://127.0.0.1:9/jobs',
    AML_AUTH: 'emulator',
    INBOX_CONTAINER: uniqueName('inbox'),
    OUTBOX_CONTAINER: uniqueName('outbox'),
    QUARANTINE_CONTAINER: uniqueName('quar'),
    AML_DATASTORE_CONTAINER: uniqueName('ds'),
    JOBS_TABLE: uniqueName('jobs'),
    ...env,
  });
  const d = buildDeps(s);
  await Promise.all([
    d.data.ensureContainer(s.inboxContainer),
    d.data.ensureContainer(s.outboxContainer),
    d.data.ensureContainer(s.quarantineContainer),
    d.datastore.ensureContainer(s.aml.datastoreContainer),
    d.jobs.ensureTable(),
  ]);
  return d;
}
