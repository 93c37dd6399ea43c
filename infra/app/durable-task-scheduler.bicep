// Optional Durable Functions backend (main.bicep durableBackend = 'DurableTaskScheduler'): a Durable Task
// Scheduler on the Consumption SKU, the task hub the app uses, and data-plane access for the app's identity.
// The app is pointed at it through app settings (function-app.bicep), not by editing host.json.
// Sources: Learn durable-task/scheduler (durable-task-scheduler.md; "Configure identity-based authentication"
// in durable-task-hubs.md); role id from the built-in roles list (integration#durable-task-data-contributor).

@description('Name of the scheduler.')
param name string

@description('Region of the scheduler (the app\'s region keeps latency low).')
param location string

@description('Tags for the scheduler.')
param tags object

@description('Task hub name: the DURABLE_TASK_HUB setting host.json reads as hubName.')
param taskHubName string

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

@description('Object id of the deploying user or group, for the scheduler\'s monitoring dashboard; empty for none.')
param userPrincipalId string = ''

@description('Principal type of userPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param userPrincipalType string = 'User'

var durableTaskDataContributorRoleId = '0ad04412-c4d5-4796-b79c-f76d14c8d402' // Durable Task Data Contributor

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'Consumption'
    }
    // Required: an empty list denies all traffic. Access is still Entra-only (the role below).
    ipAllowlist: [
      '0.0.0.0/0'
    ]
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

// Scoped to the one task hub, not the whole scheduler.
resource appTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, appPrincipalId, durableTaskDataContributorRoleId)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The dashboard signs in as the user and reads the task hub with the user's own role.
resource userTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(taskHub.id, userPrincipalId, durableTaskDataContributorRoleId)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributorRoleId)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

output endpoint string = scheduler.properties.endpoint
output dashboardUrl string = taskHub.properties.dashboardUrl
