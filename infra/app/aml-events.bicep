// Optional (main.bicep amlEventsEnabled): AML run events to the app's amlEventsTrigger, so a finished batch
// job is seen in seconds instead of at the next status check. Deployed in the AML workspace's resource group.
//
// - A system topic on the workspace (topic type Microsoft.MachineLearningServices.Workspaces). A workspace can
//   have one system topic only: if it has one already, pass its name in existingSystemTopicName.
// - A subscription delivering RunStatusChanged and RunCompleted of the endpoint's runs (batch jobs run in an
//   experiment named after the endpoint: advanced filter on data.experimentName) to the function through the
//   AzureFunction endpoint type, which needs no key in a URL. Event Grid checks that the function exists, so
//   enable this only once the app's code is deployed (azd deploy, then azd provision again).
// Sources: Learn event-grid/event-schema-machine-learning.md (event types, data), event-grid/handler-functions.md
// (AzureFunction endpoint), event-grid/event-filtering.md (advanced filters, StringIn on data.*).
// Events can be late, duplicated or missing: the app keeps polling (AML_EVENTS_ENABLED only makes it sparser).

@description('Name of the Azure ML workspace (in this resource group).')
param workspaceName string

@description('Name for a new system topic; ignored when existingSystemTopicName is set.')
param systemTopicName string

@description('The workspace\'s existing system topic, if it has one (a source can have only one).')
param existingSystemTopicName string = ''

@description('Region of the workspace (system topics live in their source\'s region).')
param location string

param tags object

@description('Batch endpoint name: its runs\' experiment name.')
param endpointName string

@description('The function app: its subscription, resource group and name (it lives outside this resource group).')
param appSubscriptionId string
param appResourceGroup string
param functionAppName string

@description('The Event Grid-triggered function that takes the events.')
param functionName string = 'amlEventsTrigger'

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
  name: workspaceName
}

resource newTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (empty(existingSystemTopicName)) {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: workspace.id
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = if (!empty(existingSystemTopicName)) {
  name: existingSystemTopicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  name: '${empty(existingSystemTopicName) ? newTopic.name : existingTopic.name}/aml-run-status-${uniqueString(appSubscriptionId, appResourceGroup, functionAppName)}'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: resourceId(appSubscriptionId, appResourceGroup, 'Microsoft.Web/sites/functions', functionAppName, functionName)
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunStatusChanged'
        'Microsoft.MachineLearningServices.RunCompleted'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.experimentName'
          values: [
            endpointName
          ]
        }
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    // A status event is worth little after a few minutes: polling will have seen it. Retry briefly, then drop.
    retryPolicy: {
      maxDeliveryAttempts: 10
      eventTimeToLiveInMinutes: 30
    }
  }
}
