// Deployed at the resource group of the user's EXISTING Azure ML workspace (main.bicep sets the scope).
//
// The app's identity invokes the batch endpoint (POST <scoring uri>/jobs with an Entra token for
// https://ml.azure.com), reads the jobs it started (GET <scoring uri>/<job>) and cancels them through the
// management plane (POST .../workspaces/<ws>/jobs/<job>/cancel).
//
// Role choice: AzureML Data Scientist, scoped to the workspace only (not its resource group).
// It is the built-in role Microsoft documents for invoking batch endpoints. A custom role would not be much
// narrower: the documented action list for "invoke a batch endpoint" ("Configure RBAC for batch endpoint
// invoke") already includes datastore read/write, datastores/listsecrets/action,
// listStorageAccountKeys/action, data asset and experiment/run writes besides the batchEndpoints/jobs actions,
// plus jobs/cancel for our cancel path. Keeping such a list in step with the service is brittle (a missing
// action only shows as a failed job at run time), and creating a role definition needs
// Microsoft.Authorization/roleDefinitions/write, a permission most deployers of this template lack.
// What AzureML Data Scientist cannot do: create, change or delete the workspace, create or delete compute,
// or assign roles. What it can do beyond our needs: manage endpoints, deployments, models and other jobs in
// this one workspace. docs/deploy.md repeats this trade-off.

@description('Name of the existing Azure ML workspace in this resource group.')
param workspaceName string

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

var azureMLDataScientistRoleId = 'f6c7c914-8db3-469d-8ca1-694a8f32e121' // AzureML Data Scientist

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
  name: workspaceName
}

resource appWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, appPrincipalId, azureMLDataScientistRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureMLDataScientistRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
