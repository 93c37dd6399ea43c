// Data-plane roles on the two storage accounts this deployment creates. Control-plane roles such as
// Contributor or Owner give no access to blobs, queues or tables once shared keys are disabled.
//
// Function app identity, RUNTIME account (AzureWebJobsStorage: host keys and locks, blob trigger receipts,
// Durable Functions task hub, Flex Consumption deployment package). These are the roles the Functions docs
// list for identity-based host storage plus the Durable Functions Azure Storage provider:
//   - Storage Blob Data Owner: the documented role for AzureWebJobsStorage; the account holds nothing but
//     this app's own runtime state, so Owner grants nothing beyond it.
//   - Storage Queue Data Contributor, Storage Table Data Contributor: Durable Functions' control/work-item
//     queues and history/instance tables.
//
// Function app identity, DATA account (the DataStorage connection: inbox/outbox/quarantine, jobs table):
//   - Storage Blob Data Owner: the role the Functions docs require for a blob TRIGGER connection. What the app
//     itself does (read inbox, write outbox/quarantine) needs only Contributor; Owner adds POSIX ACL/ownership
//     management (this account has no hierarchical namespace), blob index tags and immutability override, none
//     of which widens what Contributor already allows on this dedicated account (read/write/delete every blob).
//     We keep the documented role rather than risk an undocumented setup silently stopping the trigger. To try
//     Contributor instead, swap the role id below for storageBlobDataContributorRoleId.
//   - Storage Queue Data Contributor: the blob trigger writes poison messages to the webjobs-blobtrigger-poison
//     queue on the account of the trigger's connection (and creates that queue).
//   - Storage Table Data Contributor: the jobs table. Not Storage Table Data Owner; no such need.
//
// Deploying user (optional, principalId), DATA account only:
//   - Storage Blob Data Contributor: upload CSVs to the inbox and download predictions (Storage Explorer, az CLI
//     with --auth-mode login).
//   - Storage Table Data Reader: read job records in the jobs table.
// The user gets nothing on the runtime account: host keys live there.

@description('Name of the runtime (AzureWebJobsStorage) storage account in this resource group.')
param runtimeStorageAccountName string

@description('Name of the data (DataStorage) storage account in this resource group.')
param dataStorageAccountName string

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

@description('Object id of the deploying user or group; empty for none.')
param userPrincipalId string = ''

@description('Principal type of userPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param userPrincipalType string = 'User'

var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var storageTableDataReaderRoleId = '76199698-9eea-4c19-bc75-cec21354c6b6' // Storage Table Data Reader

resource runtimeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: runtimeStorageAccountName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataStorageAccountName
}

// ----- Function app identity on the runtime account -----

resource appRuntimeBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtimeStorage.id, appPrincipalId, storageBlobDataOwnerRoleId)
  scope: runtimeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appRuntimeQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtimeStorage.id, appPrincipalId, storageQueueDataContributorRoleId)
  scope: runtimeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appRuntimeTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtimeStorage.id, appPrincipalId, storageTableDataContributorRoleId)
  scope: runtimeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ----- Function app identity on the data account -----

resource appDataBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, appPrincipalId, storageBlobDataOwnerRoleId)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appDataQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, appPrincipalId, storageQueueDataContributorRoleId)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appDataTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, appPrincipalId, storageTableDataContributorRoleId)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ----- Deploying user on the data account -----

resource userDataBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(dataStorage.id, userPrincipalId, storageBlobDataContributorRoleId)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userDataTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(dataStorage.id, userPrincipalId, storageTableDataReaderRoleId)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReaderRoleId)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
