// A storage account reachable only with Entra ID: shared keys (and so SAS and connection strings with
// AccountKey) are disabled, HTTPS only, TLS 1.2, no anonymous blob access.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the account.')
param location string

@description('Tags for the account.')
param tags object

@description('Blob containers to create.')
param containers array = []

@description('Tables to create.')
param tables array = []

@description('Blob name prefix ("<container>/" or "<container>/<folder>") whose blobs a lifecycle rule deletes; empty for none.')
param expireBlobsPrefix string = ''

@description('Days after the last modification when the lifecycle rule deletes a blob under expireBlobsPrefix.')
@minValue(1)
param expireBlobsAfterDays int = 30

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    isHnsEnabled: false
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// The blob service exists with the account. Declared `existing` so that provisioning again does not reset its
// properties (blob-cors.bicep sets CORS on the data account after the app exists).
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containers: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tables: {
    parent: tableService
    name: tableName
  }
]

// The pipeline never deletes what users drop in the inbox; this rule is what keeps the inbox from growing forever.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(expireBlobsPrefix)) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'expireInputBlobs'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                expireBlobsPrefix
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: expireBlobsAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = account.name
output id string = account.id
// Service URIs without a trailing slash, the form the Functions host documents for <connection>__*ServiceUri
// and the form src/config/settings.ts builds from an account name.
output blobEndpoint string = 'https://${account.name}.blob.${environment().suffixes.storage}'
output queueEndpoint string = 'https://${account.name}.queue.${environment().suffixes.storage}'
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
