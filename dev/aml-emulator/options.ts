import type { DeploymentSettings } from './deployments';
import type { EventGridSettings } from './eventGrid';
import type { EmulatorFaults } from './faults';
import type { EmulatorTimings } from './jobs';
import type { Workspace } from './resource';

export interface AmlEmulatorOptions {
  /** Default 7072; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The storage account holding the datastore containers (Azurite). */
  storageConnectionString: string;
  /** Datastore name → blob container; default { workspaceblobstore: 'azureml-blobstore-local' }. */
  datastores?: Record<string, string>;
  /** Accept only this bearer token (others → 401). Without it any non-empty token is accepted. */
  requiredToken?: string;
  /** A token that is "valid but lacks the role" (→ 403). */
  forbiddenToken?: string;
  /**
   * Keep the jobs in this blob container of the storage account, so an emulator started later on the
   * same storage continues them; default: in memory only, gone with the emulator.
   */
  stateContainer?: string;
  timings?: Partial<EmulatorTimings>;
  /**
   * Real seconds per modelled second. When set, a job's statuses follow the cost model's timeline of
   * its deployment (costModel.ts), scaled; unset, they follow `timings`.
   */
  modelTimeScale?: number;
  /** Post run events to an Event Grid webhook (eventGrid.ts); without `url`, none are sent. */
  eventGrid?: Partial<EventGridSettings>;
  faults?: Partial<EmulatorFaults>;
  log?: (line: string) => void;
  /**
   * Deployments by name, over the built-in `diamond-v1` and `diamond-v2` (each scored by the model of
   * its name): change their settings, or add deployments (`model` names which model scores them).
   */
  deployments?: Record<string, Partial<DeploymentSettings>>;
  /** Deployment used without the azureml-model-deployment header; default 'diamond-v2'; null = none. */
  defaultDeployment?: string | null;
  /** Names used in resource ids; defaults match local.settings.sample.json. */
  workspace?: Partial<Workspace>;
}
