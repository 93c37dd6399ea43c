// Serverless batch scoring: CSVs dropped in a blob container go to an EXISTING Azure ML batch endpoint, and the
// predictions come back to another container. `azd up` deploys this file; docs/deploy.md explains every parameter.
//
// What this creates, in a new resource group:
//   - a user-assigned managed identity the function app runs as (app/identity.bicep)
//   - Log Analytics + Application Insights, Entra-only ingestion (app/monitoring.bicep)
//   - two storage accounts, both with shared keys disabled (app/storage.bicep):
//       runtime: AzureWebJobsStorage (host keys, Durable Functions task hub) + the Flex deployment package
//       data:    inbox / outbox / quarantine containers, the jobs table, and a lifecycle rule on the inbox
//     Why two and not one: the data account is the one people upload to and that Event Grid watches. Keeping the
//     runtime state elsewhere means (1) uploaders get a data role without also being able to read the host's
//     function keys (stored as blobs in AzureWebJobsStorage), (2) the Event Grid system topic and the inbox
//     lifecycle rule see only pipeline data, never the task hub's constant blob churn, and (3) each account's
//     roles can be argued separately (app/rbac-data.bicep). A second Standard_LRS account costs nothing at rest.
//   - an Event Grid system topic on the data account, with its own identity that may write undeliverable events
//     to the data account's deadletter container (app/event-grid.bicep); its BlobCreated subscription is
//     created by infra/hooks/postdeploy.(sh|ps1) because it needs the deployed app's blobs_extension key
//   - the function app on Flex Consumption, Node 22 (app/function-app.bicep), and CORS on the data account for
//     the dashboard's direct uploads (app/blob-cors.bicep)
//   - only with durableBackend = 'DurableTaskScheduler': a Durable Task Scheduler and its task hub
//     (app/durable-task-scheduler.bicep)
// and role assignments on the EXISTING Azure ML workspace and its datastore container, in their own resource
// group (app/rbac-aml.bicep, app/rbac-aml-datastore.bicep).

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------------
// azd environment
// ---------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and is the azd-env-name tag.')
param environmentName string

// Only regions that offer Flex Consumption (the list of the Azure-Samples Flex quickstart,
// functions-quickstart-typescript-azd infra/main.bicep; check with: az functionapp list-flexconsumption-locations).
// To move to another region, create a new azd environment (`azd env new`): names are salted with the region.
@minLength(1)
@description('Region for all new resources; only regions that offer Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create; empty for rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the deploying user (azd fills in AZURE_PRINCIPAL_ID). Gets blob upload and job-table read access on the data account; empty for no user role assignments.')
param principalId string = ''

@description('Principal type of principalId: User for a person, ServicePrincipal when a pipeline deploys.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

// ---------------------------------------------------------------------------------------------------------------
// The existing Azure ML workspace and batch endpoint
// ---------------------------------------------------------------------------------------------------------------

@description('Subscription id of the Azure ML workspace; empty for the subscription being deployed to.')
param amlSubscriptionId string = ''

@minLength(1)
@description('Resource group of the Azure ML workspace.')
param amlResourceGroup string

@minLength(1)
@description('Name of the Azure ML workspace.')
param amlWorkspaceName string

@minLength(1)
@description('Scoring URI of the batch endpoint: az ml batch-endpoint show -n <endpoint> --query scoring_uri -o tsv')
param amlScoringUri string

@description('Batch deployment to send jobs to; empty for the endpoint\'s default deployment.')
param amlDeploymentName string = ''

@minLength(1)
@description('Azure ML blob datastore that job inputs and outputs go through.')
param amlDatastoreName string = 'workspaceblobstore'

@minLength(3)
@maxLength(24)
@description('Storage account behind that datastore: az ml datastore show -n <datastore> --query account_name -o tsv')
param amlDatastoreAccount string

@minLength(3)
@maxLength(63)
@description('Blob container behind that datastore: az ml datastore show -n <datastore> --query container_name -o tsv')
param amlDatastoreContainer string

@description('Resource group of the datastore\'s storage account; empty for amlResourceGroup.')
param amlDatastoreResourceGroup string = ''

@description('Folder in the datastore container under which each job gets its own folder.')
param amlDatastorePathPrefix string = 'batch-scoring'

// ---------------------------------------------------------------------------------------------------------------
// Pipeline tuning
// ---------------------------------------------------------------------------------------------------------------

@minValue(1)
@description('Days after which inbox blobs are deleted by the storage lifecycle rule. The app itself never deletes user input.')
param inboxRetentionDays int = 30

@minValue(1)
@description('Seconds before the first status check of a batch job.')
param pollFirstDelaySeconds int = 30

@description('Growth factor between status checks; a decimal number written as a string (Bicep has no floats).')
param pollBackoffFactor string = '1.5'

@minValue(1)
@description('Longest wait between status checks, in seconds.')
param pollMaxDelaySeconds int = 300

@minValue(1)
@description('Seconds after which a job still running is cancelled and reported as timed out.')
param jobDeadlineSeconds int = 86400

@description('Deliver AML run events (RunStatusChanged, RunCompleted) of the endpoint to the app (app/aml-events.bicep): completion seen in seconds. Turn on only after the first `azd deploy` (Event Grid checks that the function exists).')
param amlEventsEnabled bool = false

@description('The AML workspace\'s existing Event Grid system topic, if it has one (a source can have only one); empty to create one.')
param amlEventsExistingSystemTopic string = ''

@description('NCRONTAB schedule (6 fields, UTC) of the reconcile timer that sweeps for missed events and stuck jobs.')
param reconcileSchedule string = '0 */5 * * * *'

@minValue(1)
@maxValue(1000)
@description('Most instances the Flex Consumption plan may scale out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory per Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(0)
@description('Always-ready instances for the Durable Functions group (orchestrators, activities, entities). 0 scales to zero; the Durable docs suggest 1 on Flex Consumption for steady latency, at the price of an instance that is always billed.')
param durableAlwaysReadyInstances int = 0

@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
@description('Durable Functions backend: the Azure Storage provider in the runtime account, or a Durable Task Scheduler (Consumption SKU) with its task hub. docs/deploy.md says when to choose which.')
param durableBackend string = 'AzureStorage'

// ---------------------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// The service name in azure.yaml; azd finds the function app to deploy to by this tag.
var serviceName = 'pipeline'

// The same names src/config/settings.ts uses as defaults (test/unit/infra checks that they agree).
var inboxContainerName = 'inbox'
var outboxContainerName = 'outbox'
var quarantineContainerName = 'quarantine'
var jobsTableName = 'jobs'
// Event Grid writes events it could not deliver here (deadLetterWithResourceIdentity in infra/hooks/postdeploy.*).
var deadLetterContainerName = 'deadletter'
var durableTaskHubName = 'amlbatch'
var deploymentContainerName = 'app-package'

var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var runtimeStorageAccountName = '${abbrs.storageStorageAccounts}rt${resourceToken}'
var dataStorageAccountName = '${abbrs.storageStorageAccounts}data${resourceToken}'

var effectiveAmlSubscriptionId = empty(amlSubscriptionId) ? subscription().subscriptionId : amlSubscriptionId
var effectiveAmlDatastoreResourceGroup = empty(amlDatastoreResourceGroup) ? amlResourceGroup : amlDatastoreResourceGroup
var amlDatastoreBlobServiceUri = 'https://${amlDatastoreAccount}.blob.${environment().suffixes.storage}'
// The management plane of the cloud this is deployed to (sovereign clouds differ), for the app's job cancel calls.
var amlManagementUri = environment().resourceManager
var useDurableTaskScheduler = durableBackend == 'DurableTaskScheduler'

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module runtimeStorage 'app/storage.bicep' = {
  name: 'runtime-storage'
  scope: rg
  params: {
    name: runtimeStorageAccountName
    location: location
    tags: tags
    containers: [
      deploymentContainerName
    ]
  }
}

module dataStorage 'app/storage.bicep' = {
  name: 'data-storage'
  scope: rg
  params: {
    name: dataStorageAccountName
    location: location
    tags: tags
    containers: [
      inboxContainerName
      outboxContainerName
      quarantineContainerName
      deadLetterContainerName
    ]
    tables: [
      jobsTableName
      '${jobsTableName}AmlJobs' // the AML job index (src/adapters/amlJobIndex.ts)
    ]
    expireBlobsPrefix: '${inboxContainerName}/'
    expireBlobsAfterDays: inboxRetentionDays
  }
}

module eventGrid 'app/event-grid.bicep' = {
  name: 'event-grid'
  scope: rg
  params: {
    name: '${abbrs.eventGridSystemTopics}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: dataStorage.outputs.name
    deadLetterContainerName: deadLetterContainerName
  }
}

// Only with durableBackend = 'DurableTaskScheduler': the scheduler, its task hub and the app identity's role.
module durableTaskScheduler 'app/durable-task-scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: '${abbrs.durableTaskSchedulers}${resourceToken}'
    location: location
    tags: tags
    taskHubName: durableTaskHubName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module rbacData 'app/rbac-data.bicep' = {
  name: 'rbac-data'
  scope: rg
  params: {
    runtimeStorageAccountName: runtimeStorage.outputs.name
    dataStorageAccountName: dataStorage.outputs.name
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// In the Azure ML workspace's resource group (possibly another subscription). The deployment name carries the
// resource token so two azd environments pointing at the same workspace do not overwrite each other's record.
// A module scoped to another resource group is a nested deployment THERE: it needs
// Microsoft.Resources/deployments/write on that resource group besides roleAssignments/write, so the deployer
// needs Owner, or Contributor + Role Based Access Control Administrator, on it (docs/deploy.md, Permissions).
module rbacAml 'app/rbac-aml.bicep' = {
  name: 'rbac-aml-${resourceToken}'
  scope: resourceGroup(effectiveAmlSubscriptionId, amlResourceGroup)
  params: {
    workspaceName: amlWorkspaceName
    appPrincipalId: identity.outputs.principalId
  }
}

module rbacAmlDatastore 'app/rbac-aml-datastore.bicep' = {
  name: 'rbac-aml-datastore-${resourceToken}'
  scope: resourceGroup(effectiveAmlSubscriptionId, effectiveAmlDatastoreResourceGroup)
  params: {
    storageAccountName: amlDatastoreAccount
    containerName: amlDatastoreContainer
    appPrincipalId: identity.outputs.principalId
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  // The host reaches AzureWebJobsStorage as soon as the app exists; let its roles be in place first.
  dependsOn: [
    rbacData
  ]
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: serviceName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    runtimeBlobEndpoint: runtimeStorage.outputs.blobEndpoint
    runtimeQueueEndpoint: runtimeStorage.outputs.queueEndpoint
    runtimeTableEndpoint: runtimeStorage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    dataBlobEndpoint: dataStorage.outputs.blobEndpoint
    dataQueueEndpoint: dataStorage.outputs.queueEndpoint
    dataTableEndpoint: dataStorage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    inboxContainerName: inboxContainerName
    outboxContainerName: outboxContainerName
    quarantineContainerName: quarantineContainerName
    jobsTableName: jobsTableName
    durableTaskHubName: durableTaskHubName
    durableBackend: durableBackend
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTaskScheduler!.outputs.endpoint : ''
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    amlScoringUri: amlScoringUri
    amlDeploymentName: amlDeploymentName
    amlSubscriptionId: effectiveAmlSubscriptionId
    amlResourceGroup: amlResourceGroup
    amlWorkspaceName: amlWorkspaceName
    amlManagementUri: amlManagementUri
    amlDatastoreName: amlDatastoreName
    amlDatastoreBlobServiceUri: amlDatastoreBlobServiceUri
    amlDatastoreContainer: amlDatastoreContainer
    amlDatastorePathPrefix: amlDatastorePathPrefix
    pollFirstDelaySeconds: pollFirstDelaySeconds
    pollBackoffFactor: pollBackoffFactor
    pollMaxDelaySeconds: pollMaxDelaySeconds
    amlEventsEnabled: amlEventsEnabled
    jobDeadlineSeconds: jobDeadlineSeconds
    reconcileSchedule: reconcileSchedule
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// Optional: AML run events to amlEventsTrigger, in the workspace's resource group (a nested deployment there, like rbacAml).
module amlEvents 'app/aml-events.bicep' = if (amlEventsEnabled) {
  name: 'aml-events-${resourceToken}'
  scope: resourceGroup(effectiveAmlSubscriptionId, amlResourceGroup)
  params: {
    workspaceName: amlWorkspaceName
    systemTopicName: '${abbrs.eventGridSystemTopics}aml-${resourceToken}'
    existingSystemTopicName: amlEventsExistingSystemTopic
    location: location
    tags: tags
    endpointName: split(replace(amlScoringUri, 'https://', ''), '.')[0]
    appSubscriptionId: subscription().subscriptionId
    appResourceGroup: rg.name
    functionAppName: functionApp.outputs.name
  }
}

// The dashboard (served by the app at /api/ui) uploads straight to the inbox with a user delegation SAS from
// POST /api/uploads: a cross-origin PUT, so the data account's blob service allows the app's origin. The app's
// host name exists only once the app does, hence a step after it.
module dataBlobCors 'app/blob-cors.bicep' = {
  name: 'data-blob-cors'
  scope: rg
  params: {
    storageAccountName: dataStorage.outputs.name
    allowedOrigin: 'https://${functionApp.outputs.defaultHostName}'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs: azd stores them in the environment (.azure/<env>/.env); the postdeploy hooks and docs/deploy.md use them.
// ---------------------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output RESOURCE_GROUP string = rg.name
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output AZURE_STORAGE_ACCOUNT_ID string = dataStorage.outputs.id
output AZURE_RUNTIME_STORAGE_ACCOUNT_NAME string = runtimeStorage.outputs.name
output EVENT_GRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output INBOX_CONTAINER string = inboxContainerName
output OUTBOX_CONTAINER string = outboxContainerName
output QUARANTINE_CONTAINER string = quarantineContainerName
output JOBS_TABLE string = jobsTableName
output DEADLETTER_CONTAINER string = deadLetterContainerName
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_DASHBOARD string = useDurableTaskScheduler ? durableTaskScheduler!.outputs.dashboardUrl : ''
