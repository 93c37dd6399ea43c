// The Event Grid system topic for the data storage account. The BlobCreated subscription that feeds the
// function's blob trigger is NOT created here: its webhook URL carries the blobs_extension system key, which
// exists only once the app has been deployed and its host has started. infra/hooks/postdeploy.(sh|ps1)
// create it after `azd deploy`.

@description('Name of the system topic.')
param name string

@description('Region of the system topic; must be the storage account\'s region.')
param location string

@description('Tags for the system topic.')
param tags object

@description('Name of the storage account (in this resource group) whose events the topic publishes.')
param storageAccountName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = systemTopic.name
output id string = systemTopic.id
