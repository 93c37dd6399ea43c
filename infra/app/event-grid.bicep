// The Event Grid system topic for the data storage account. The BlobCreated subscription that feeds the
// function's blob trigger is NOT created here: its webhook URL carries the blobs_extension system key, which
// exists only once the app has been deployed and its host has started. infra/hooks/postdeploy.(sh|ps1)
// create it after `azd deploy`.
//
// Dead-lettering: events Event Grid still cannot deliver after its retries (30 attempts / 24 h) would be dropped.
// The hooks' subscription sets deadLetterWithResourceIdentity, so Event Grid writes them, as this topic's
// system-assigned identity, to a container of the data account (shared keys stay off), where the reconciler
// finds them. That identity gets Storage Blob Data Contributor on that one container (Learn: Event Grid
// "Dead letter and retry policies" and "Deliver events using managed identity", destination roles).

@description('Name of the system topic.')
param name string

@description('Region of the system topic; must be the storage account\'s region.')
param location string

@description('Tags for the system topic.')
param tags object

@description('Name of the storage account (in this resource group) whose events the topic publishes.')
param storageAccountName string

@description('Container of that account (already created) where undeliverable events are written.')
param deadLetterContainerName string

var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource topicDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, systemTopic.id, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = systemTopic.name
output id string = systemTopic.id
