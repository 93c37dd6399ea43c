# azd postdeploy hook (windows, PowerShell 7). Creates or updates the Event Grid subscription that delivers
# BlobCreated events from the inbox container to the function app's blob trigger (inboxTrigger, source EventGrid).
# Same steps as postdeploy.sh; see there for the why.
#
# Inputs (azd passes its environment to hooks; without azd, set them yourself, see docs/deploy.md):
#   RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME, EVENT_GRID_SYSTEM_TOPIC_NAME,
#   AZURE_STORAGE_ACCOUNT_ID                                                required (Bicep outputs)
#   AZURE_FUNCTION_APP_HOSTNAME, INBOX_CONTAINER, DEADLETTER_CONTAINER,
#   AZURE_SUBSCRIPTION_ID                                                   optional (looked up / defaulted)
#   POSTDEPLOY_ATTEMPTS (default 20), POSTDEPLOY_RETRY_SECONDS (default 15)  optional retry tuning
# Needs the Azure CLI, signed in (`az login`). The subscription body goes through a file and `az rest`, not
# through `az eventgrid ... --endpoint <url>`: on Windows az is a .cmd script and the '&' in the webhook URL
# would be taken by cmd.exe as a command separator.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Fail([string] $message) {
    Write-Error "postdeploy: $message" -ErrorAction Continue
    exit 1
}

function Get-Setting([string] $name, [string] $default = '') {
    $value = [Environment]::GetEnvironmentVariable($name)
    if ([string]::IsNullOrWhiteSpace($value)) { return $default }
    return $value.Trim()
}

$resourceGroup = Get-Setting 'RESOURCE_GROUP'
$functionAppName = Get-Setting 'AZURE_FUNCTION_APP_NAME'
$systemTopicName = Get-Setting 'EVENT_GRID_SYSTEM_TOPIC_NAME'
$storageAccountId = Get-Setting 'AZURE_STORAGE_ACCOUNT_ID'
foreach ($required in @(
        @('RESOURCE_GROUP', $resourceGroup),
        @('AZURE_FUNCTION_APP_NAME', $functionAppName),
        @('EVENT_GRID_SYSTEM_TOPIC_NAME', $systemTopicName),
        @('AZURE_STORAGE_ACCOUNT_ID', $storageAccountId))) {
    if (-not $required[1]) { Fail "$($required[0]) is not set (an output of infra/main.bicep)" }
}

$inboxContainer = Get-Setting 'INBOX_CONTAINER' 'inbox'
$deadLetterContainer = Get-Setting 'DEADLETTER_CONTAINER' 'deadletter'
$functionName = 'inboxTrigger'
$subscriptionName = 'inbox-blob-created'
$apiVersion = '2022-06-15'
$attempts = [int](Get-Setting 'POSTDEPLOY_ATTEMPTS' '20')
$retrySeconds = [int](Get-Setting 'POSTDEPLOY_RETRY_SECONDS' '15')

if (-not (Get-Command az -ErrorAction SilentlyContinue)) { Fail 'the Azure CLI (az) is required: https://aka.ms/azure-cli' }
az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) { Fail "the Azure CLI is not signed in: run 'az login'" }

$subscriptionId = Get-Setting 'AZURE_SUBSCRIPTION_ID'
if (-not $subscriptionId) { $subscriptionId = (az account show --query id --output tsv).Trim() }

$hostName = Get-Setting 'AZURE_FUNCTION_APP_HOSTNAME'
if (-not $hostName) {
    $hostName = az functionapp show --subscription $subscriptionId --resource-group $resourceGroup `
        --name $functionAppName --query defaultHostName --output tsv
}
if (-not $hostName) { Fail "could not find the host name of $functionAppName" }
$hostName = "$hostName".Trim()

# Wakes the host: on Flex Consumption it may be scaled to zero, and the key appears only after it starts.
function Invoke-HostWakeUp {
    try { Invoke-WebRequest -Uri "https://$hostName/" -Method Get -TimeoutSec 30 -SkipHttpErrorCheck | Out-Null } catch { }
}

Write-Host "postdeploy: waiting for the blobs_extension system key of $functionAppName"
$key = ''
for ($attempt = 1; ; $attempt++) {
    $key = az functionapp keys list --subscription $subscriptionId --resource-group $resourceGroup `
        --name $functionAppName --query 'systemKeys.blobs_extension' --output tsv 2>$null
    if ($LASTEXITCODE -eq 0 -and $key) { $key = "$key".Trim(); break }
    if ($attempt -ge $attempts) {
        Fail "no blobs_extension key after $attempts attempts. Is the app deployed and does it register the blob trigger '$functionName'? Check the app's logs, then run this script again."
    }
    Invoke-HostWakeUp
    Start-Sleep -Seconds $retrySeconds
}

$endpointBase = "https://$hostName/runtime/webhooks/blobs"
$endpoint = "$($endpointBase)?functionName=Host.Functions.$functionName&code=$([uri]::EscapeDataString($key))"

$arm = (az cloud show --query endpoints.resourceManager --output tsv).Trim().TrimEnd('/')
$subscriptionUri = "$arm/subscriptions/$subscriptionId/resourceGroups/$resourceGroup/providers/Microsoft.EventGrid/systemTopics/$systemTopicName/eventSubscriptions/$($subscriptionName)?api-version=$apiVersion"

# Only blobs created in the inbox container, and only by the operations that finish writing a blob:
# PutBlob (single upload), PutBlockList (commit of a block upload), CopyBlob, FlushWithClose (ADLS Gen2),
# SftpCommit (SFTP upload). Events still undelivered after the retries are written, as the system topic's own
# identity, to the dead-letter container (infra/app/event-grid.bicep grants that identity its role there).
$body = @{
    properties = @{
        destination         = @{
            endpointType = 'WebHook'
            properties   = @{
                endpointUrl                  = $endpoint
                maxEventsPerBatch            = 1
                preferredBatchSizeInKilobytes = 64
            }
        }
        filter              = @{
            includedEventTypes = @('Microsoft.Storage.BlobCreated')
            subjectBeginsWith  = "/blobServices/default/containers/$inboxContainer/"
            advancedFilters    = @(
                @{
                    operatorType = 'StringIn'
                    key          = 'data.api'
                    values       = @('PutBlob', 'PutBlockList', 'CopyBlob', 'FlushWithClose', 'SftpCommit')
                }
            )
        }
        deadLetterWithResourceIdentity = @{
            identity              = @{ type = 'SystemAssigned' }
            deadLetterDestination = @{
                endpointType = 'StorageBlob'
                properties   = @{
                    resourceId        = $storageAccountId
                    blobContainerName = $deadLetterContainer
                }
            }
        }
        eventDeliverySchema = 'EventGridSchema'
        retryPolicy         = @{
            maxDeliveryAttempts      = 30
            eventTimeToLiveInMinutes = 1440
        }
    }
}

# The body holds the key: write it to a temporary file (UTF-8 without BOM) and remove it afterwards.
$bodyFile = [System.IO.Path]::GetTempFileName()
try {
    [System.IO.File]::WriteAllText($bodyFile, ($body | ConvertTo-Json -Depth 10), [System.Text.UTF8Encoding]::new($false))

    Write-Host "postdeploy: creating or updating Event Grid subscription $subscriptionName on $systemTopicName -> $endpointBase (inboxTrigger, container $inboxContainer)"
    # Event Grid validates the webhook (a handshake the blob extension answers) before the subscription succeeds.
    # A cold host can miss it, so a failed subscription is retried with a fresh PUT.
    for ($attempt = 1; ; $attempt++) {
        az rest --method put --uri $subscriptionUri --body "@$bodyFile" --output none
        if ($LASTEXITCODE -eq 0) {
            $state = ''
            for ($poll = 0; $poll -lt 40; $poll++) {
                $state = az rest --method get --uri $subscriptionUri --query properties.provisioningState --output tsv 2>$null
                if ($state -in @('Succeeded', 'Failed', 'Canceled')) { break }
                Start-Sleep -Seconds 5
            }
            if ($state -eq 'Succeeded') {
                Write-Host "postdeploy: Event Grid subscription $subscriptionName is ready"
                exit 0
            }
            Write-Warning "postdeploy: subscription provisioning state is '$state'"
        }
        if ($attempt -ge 3) {
            Fail 'could not create the Event Grid subscription. Check that the app is running (the webhook handshake needs it), then run this script again.'
        }
        Invoke-HostWakeUp
        Start-Sleep -Seconds $retrySeconds
    }
}
finally {
    Remove-Item -LiteralPath $bodyFile -Force -ErrorAction SilentlyContinue
}
