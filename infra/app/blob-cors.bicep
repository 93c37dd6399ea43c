// CORS on a storage account's blob service, for browser uploads with a SAS from POST /api/uploads: the
// dashboard runs on the function app's origin and PUTs blocks straight to the inbox container.
// Only the app's origin, only the methods and headers a block or single-shot upload sends.

@description('Name of the storage account (in this resource group).')
param storageAccountName string

@description('The one origin allowed, e.g. https://<app host name>.')
param allowedOrigin string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    cors: {
      corsRules: [
        {
          allowedOrigins: [
            allowedOrigin
          ]
          allowedMethods: [
            'PUT'
            'OPTIONS'
          ]
          allowedHeaders: [
            'content-type'
            'x-ms-*'
          ]
          exposedHeaders: [
            'etag'
            'x-ms-request-id'
          ]
          maxAgeInSeconds: 3600
        }
      ]
    }
  }
}
