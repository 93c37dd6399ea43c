// Deployed at the resource group of the Azure ML datastore's storage account (by default the workspace's own
// storage account, in the workspace's resource group; main.bicep sets the scope).
//
// The app writes each job's input CSV into the datastore container and reads the predictions the batch job
// writes back there. Plain Contributor (or Owner) on the account is NOT enough to write blobs with an Entra
// token: that needs a data-plane role. Storage Blob Data Contributor, scoped to the datastore CONTAINER only,
// not the account: the workspace account also holds other containers (code snapshots, logs, models) the app
// has no business touching.

@description('Name of the existing storage account behind the Azure ML datastore.')
param storageAccountName string

@description('Name of the datastore\'s blob container (for workspaceblobstore: azureml-blobstore-<guid>).')
param containerName string

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource datastoreContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: containerName
}

resource appDatastoreBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(datastoreContainer.id, appPrincipalId, storageBlobDataContributorRoleId)
  scope: datastoreContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
