// The function app on the Flex Consumption plan (Linux, Node 22), running as one user-assigned identity.
// Node 22 because Node 20 reached end of life on 2026-04-30; the code stays on what Node 20 and 22 share
// (package.json engines >=20, CI runs both).
// Every connection is identity-based: no storage keys, no connection strings with AccountKey, no AML keys.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Region of the plan and the app.')
param location string

@description('Tags for the plan and the app.')
param tags object

@description('azd service name (azure.yaml): tagged as azd-service-name on the app only. On the plan too, older azd fails to tell which resource to deploy to.')
param serviceName string

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Blob service URI of the runtime (AzureWebJobsStorage) account, without trailing slash.')
param runtimeBlobEndpoint string

@description('Queue service URI of the runtime account.')
param runtimeQueueEndpoint string

@description('Table service URI of the runtime account.')
param runtimeTableEndpoint string

@description('Container in the runtime account that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob service URI of the data (DataStorage) account.')
param dataBlobEndpoint string

@description('Queue service URI of the data account (the blob trigger\'s poison queue).')
param dataQueueEndpoint string

@description('Table service URI of the data account (jobs table).')
param dataTableEndpoint string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Blob container users drop CSVs into.')
param inboxContainerName string

@description('Blob container predictions are written to.')
param outboxContainerName string

@description('Blob container rejected inputs are copied to.')
param quarantineContainerName string

@description('Table of job records.')
param jobsTableName string

@description('Durable Functions task hub name (host.json reads %DURABLE_TASK_HUB%).')
param durableTaskHubName string

@description('Durable Functions backend: AzureStorage (host.json as is) or DurableTaskScheduler.')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string

@description('Endpoint of the Durable Task Scheduler when durableBackend is DurableTaskScheduler.')
param durableTaskSchedulerEndpoint string = ''

@description('Always-ready instances for the durable group; 0 for none.')
param durableAlwaysReadyInstances int = 0

@description('Management-plane endpoint of this cloud (environment().resourceManager).')
param amlManagementUri string

@description('Scoring URI of the existing batch endpoint.')
param amlScoringUri string

@description('Batch deployment to route to; empty for the endpoint\'s default deployment.')
param amlDeploymentName string

@description('Subscription id of the Azure ML workspace (management-plane job cancel).')
param amlSubscriptionId string

@description('Resource group of the Azure ML workspace.')
param amlResourceGroup string

@description('Name of the Azure ML workspace.')
param amlWorkspaceName string

@description('Name of the Azure ML blob datastore jobs read from and write to.')
param amlDatastoreName string

@description('Blob service URI of the datastore\'s storage account.')
param amlDatastoreBlobServiceUri string

@description('Blob container behind the datastore.')
param amlDatastoreContainer string

@description('Folder in the datastore container under which each job gets its own folder.')
param amlDatastorePathPrefix string

@description('Seconds before the first status check of a batch job.')
param pollFirstDelaySeconds int

@description('Growth factor between status checks (a decimal number, as a string).')
param pollBackoffFactor string

@description('Longest wait between status checks, in seconds.')
param pollMaxDelaySeconds int

@description('AML run events reach amlEventsTrigger: polling becomes the sparser safety net.')
param amlEventsEnabled bool = false

@description('Seconds after which a job still running is cancelled and reported as timed out.')
param jobDeadlineSeconds int

@description('NCRONTAB schedule of the reconcile timer (the function binds %RECONCILE_SCHEDULE%).')
param reconcileSchedule string

@description('Most instances the plan may scale out to.')
param maximumInstanceCount int

@description('Memory per instance, in MB.')
param instanceMemoryMB int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${runtimeBlobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: durableAlwaysReadyInstances > 0
          ? [
              {
                name: 'durable'
                instanceCount: durableAlwaysReadyInstances
              }
            ]
          : []
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// The Durable Task Scheduler backend, set through host.json overrides in app settings (the Functions host reads
// AzureFunctionsJobHost__<path> as host.json's <path>; Learn functions-host-json, "Override host.json values").
// Provider type and connection setting name from Learn durable-task-scheduler ("Configure identity-based
// authentication"): type azureManaged, connection string Endpoint=...;Authentication=ManagedIdentity;ClientID=...
// hubName stays %DURABLE_TASK_HUB%, which is the scheduler's task hub name.
var durableTaskSchedulerSettings = durableBackend != 'DurableTaskScheduler'
  ? {}
  : {
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
    }

// Every setting src/config/settings.ts and host.json read, and nothing else (test/unit/infra checks both ways).
// Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE:
// runtime and package come from functionAppConfig above.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(durableTaskSchedulerSettings, {
    // Host storage: keys, locks, blob trigger receipts, the Durable Functions task hub.
    AzureWebJobsStorage__blobServiceUri: runtimeBlobEndpoint
    AzureWebJobsStorage__queueServiceUri: runtimeQueueEndpoint
    AzureWebJobsStorage__tableServiceUri: runtimeTableEndpoint
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    DURABLE_TASK_HUB: durableTaskHubName
    // Telemetry with an Entra token (the component has local auth disabled).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // Data account: the blob trigger's connection (blob + poison queue) and the app's own SDK clients.
    DataStorage__blobServiceUri: dataBlobEndpoint
    DataStorage__queueServiceUri: dataQueueEndpoint
    DataStorage__tableServiceUri: dataTableEndpoint
    DataStorage__credential: 'managedidentity'
    DataStorage__clientId: identityClientId
    // Flex Consumption supports only the Event Grid source for blob triggers.
    INBOX_TRIGGER_SOURCE: 'EventGrid'
    INBOX_CONTAINER: inboxContainerName
    OUTBOX_CONTAINER: outboxContainerName
    QUARANTINE_CONTAINER: quarantineContainerName
    JOBS_TABLE: jobsTableName
    // Azure ML batch endpoint: Entra token for https://ml.azure.com from the managed identity.
    AML_SCORING_URI: amlScoringUri
    AML_DEPLOYMENT_NAME: amlDeploymentName
    AML_AUTH: 'azure'
    AML_CLIENT_ID: identityClientId
    AML_SUBSCRIPTION_ID: amlSubscriptionId
    AML_RESOURCE_GROUP: amlResourceGroup
    AML_WORKSPACE_NAME: amlWorkspaceName
    AML_MANAGEMENT_URI: amlManagementUri
    AML_DATASTORE_NAME: amlDatastoreName
    AML_DATASTORE_CONTAINER: amlDatastoreContainer
    AML_DATASTORE_PATH_PREFIX: amlDatastorePathPrefix
    AmlDatastoreStorage__blobServiceUri: amlDatastoreBlobServiceUri
    AmlDatastoreStorage__credential: 'managedidentity'
    AmlDatastoreStorage__clientId: identityClientId
    // Polling: batch jobs take minutes (compute provisioning), so start at 30 s and back off to 5 min.
    POLL_FIRST_DELAY_SECONDS: string(pollFirstDelaySeconds)
    POLL_BACKOFF_FACTOR: pollBackoffFactor
    POLL_MAX_DELAY_SECONDS: string(pollMaxDelaySeconds)
    POLL_LEARNED_TIMING: 'true'
    AML_EVENTS_ENABLED: amlEventsEnabled ? 'true' : 'false' // string(bool) would give 'True'
    JOB_DEADLINE_SECONDS: string(jobDeadlineSeconds)
    PUBLISH_MODE: 'join'
    // The reconcile timer's schedule: the host resolves %RECONCILE_SCHEDULE% when it indexes the function.
    RECONCILE_SCHEDULE: reconcileSchedule
  })
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
