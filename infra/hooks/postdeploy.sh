#!/bin/sh
# azd postdeploy hook (posix). Creates or updates the Event Grid subscription that delivers BlobCreated events
# from the inbox container to the function app's blob trigger (inboxTrigger, source EventGrid).
#
# Why here and not in Bicep: the webhook URL must carry the blobs_extension system key, which the Functions host
# creates only once the app's code is deployed and the host has started. So: deploy, then fetch the key with
# `az functionapp keys list`, then PUT the subscription (a PUT creates or updates: running this again is safe).
#
# Inputs (azd passes its environment to hooks; without azd, export them yourself, see docs/deploy.md):
#   RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME, EVENT_GRID_SYSTEM_TOPIC_NAME,
#   AZURE_STORAGE_ACCOUNT_ID                                                required (Bicep outputs)
#   AZURE_FUNCTION_APP_HOSTNAME, INBOX_CONTAINER, DEADLETTER_CONTAINER,
#   AZURE_SUBSCRIPTION_ID                                                   optional (looked up / defaulted)
#   POSTDEPLOY_ATTEMPTS (default 20), POSTDEPLOY_RETRY_SECONDS (default 15)  optional retry tuning
# Needs the Azure CLI, signed in (`az login`) to the tenant of the deployment: azd's own sign-in is separate.
set -eu

fail() {
  echo "postdeploy: $*" >&2
  exit 1
}

: "${RESOURCE_GROUP:?RESOURCE_GROUP is not set (an output of infra/main.bicep)}"
: "${AZURE_FUNCTION_APP_NAME:?AZURE_FUNCTION_APP_NAME is not set (an output of infra/main.bicep)}"
: "${EVENT_GRID_SYSTEM_TOPIC_NAME:?EVENT_GRID_SYSTEM_TOPIC_NAME is not set (an output of infra/main.bicep)}"
: "${AZURE_STORAGE_ACCOUNT_ID:?AZURE_STORAGE_ACCOUNT_ID is not set (an output of infra/main.bicep)}"

inbox_container="${INBOX_CONTAINER:-inbox}"
deadletter_container="${DEADLETTER_CONTAINER:-deadletter}"
function_name="inboxTrigger"
subscription_name="inbox-blob-created"
api_version="2022-06-15"
attempts="${POSTDEPLOY_ATTEMPTS:-20}"
retry_seconds="${POSTDEPLOY_RETRY_SECONDS:-15}"

command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is required: https://aka.ms/azure-cli"
az account show --output none 2>/dev/null || fail "the Azure CLI is not signed in: run 'az login'"

subscription_id="${AZURE_SUBSCRIPTION_ID:-}"
if [ -z "$subscription_id" ]; then
  subscription_id=$(az account show --query id --output tsv)
fi

host_name="${AZURE_FUNCTION_APP_HOSTNAME:-}"
if [ -z "$host_name" ]; then
  host_name=$(az functionapp show --subscription "$subscription_id" --resource-group "$RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --query defaultHostName --output tsv)
fi
[ -n "$host_name" ] || fail "could not find the host name of $AZURE_FUNCTION_APP_NAME"

# Percent-encodes the characters a function key can contain that are not safe in a query string.
url_encode() {
  printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/+/%2B/g' -e 's/\//%2F/g' -e 's/=/%3D/g' -e 's/&/%26/g' -e 's/#/%23/g'
}

# Wakes the host: on Flex Consumption it may be scaled to zero, and the key appears only after it starts.
wake_host() {
  if command -v curl >/dev/null 2>&1; then
    curl --silent --output /dev/null --max-time 30 "https://$host_name/" || true
  fi
}

echo "postdeploy: waiting for the blobs_extension system key of $AZURE_FUNCTION_APP_NAME"
key=""
attempt=1
while :; do
  key=$(az functionapp keys list --subscription "$subscription_id" --resource-group "$RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --query "systemKeys.blobs_extension" --output tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  [ "$attempt" -ge "$attempts" ] && fail "no blobs_extension key after $attempts attempts. Is the app deployed and does it register the blob trigger '$function_name'? Check the app's logs, then run this script again."
  wake_host
  sleep "$retry_seconds"
  attempt=$((attempt + 1))
done

endpoint_base="https://$host_name/runtime/webhooks/blobs"
endpoint="$endpoint_base?functionName=Host.Functions.$function_name&code=$(url_encode "$key")"

arm=$(az cloud show --query endpoints.resourceManager --output tsv)
arm="${arm%/}"
subscription_uri="$arm/subscriptions/$subscription_id/resourceGroups/$RESOURCE_GROUP/providers/Microsoft.EventGrid/systemTopics/$EVENT_GRID_SYSTEM_TOPIC_NAME/eventSubscriptions/$subscription_name?api-version=$api_version"

# The body holds the key: write it to a private temporary file and remove it on exit.
body=$(mktemp)
trap 'rm -f "$body"' EXIT
trap 'exit 1' HUP INT TERM
chmod 600 "$body"
# Only blobs created in the inbox container, and only by the operations that finish writing a blob:
# PutBlob (single upload), PutBlockList (commit of a block upload), CopyBlob, FlushWithClose (ADLS Gen2),
# SftpCommit (SFTP upload). Events still undelivered after the retries are written, as the system topic's own
# identity, to the dead-letter container (infra/app/event-grid.bicep grants that identity its role there).
cat >"$body" <<EOF
{
  "properties": {
    "destination": {
      "endpointType": "WebHook",
      "properties": {
        "endpointUrl": "$endpoint",
        "maxEventsPerBatch": 1,
        "preferredBatchSizeInKilobytes": 64
      }
    },
    "filter": {
      "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
      "subjectBeginsWith": "/blobServices/default/containers/$inbox_container/",
      "advancedFilters": [
        {
          "operatorType": "StringIn",
          "key": "data.api",
          "values": ["PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose", "SftpCommit"]
        }
      ]
    },
    "deadLetterWithResourceIdentity": {
      "identity": { "type": "SystemAssigned" },
      "deadLetterDestination": {
        "endpointType": "StorageBlob",
        "properties": {
          "resourceId": "$AZURE_STORAGE_ACCOUNT_ID",
          "blobContainerName": "$deadletter_container"
        }
      }
    },
    "eventDeliverySchema": "EventGridSchema",
    "retryPolicy": {
      "maxDeliveryAttempts": 30,
      "eventTimeToLiveInMinutes": 1440
    }
  }
}
EOF

echo "postdeploy: creating or updating Event Grid subscription $subscription_name on $EVENT_GRID_SYSTEM_TOPIC_NAME -> $endpoint_base (inboxTrigger, container $inbox_container)"
# Event Grid validates the webhook (a handshake the blob extension answers) before the subscription succeeds.
# A cold host can miss it, so a failed subscription is retried with a fresh PUT.
attempt=1
while :; do
  if az rest --method put --uri "$subscription_uri" --body "@$body" --output none; then
    state=""
    polls=0
    while [ "$polls" -lt 40 ]; do
      state=$(az rest --method get --uri "$subscription_uri" --query properties.provisioningState --output tsv 2>/dev/null || true)
      case "$state" in
        Succeeded | Failed | Canceled) break ;;
      esac
      sleep 5
      polls=$((polls + 1))
    done
    if [ "$state" = "Succeeded" ]; then
      echo "postdeploy: Event Grid subscription $subscription_name is ready"
      exit 0
    fi
    echo "postdeploy: subscription provisioning state is '${state:-unknown}'" >&2
  fi
  [ "$attempt" -ge 3 ] && fail "could not create the Event Grid subscription. Check that the app is running (the webhook handshake needs it), then run this script again."
  wake_host
  sleep "$retry_seconds"
  attempt=$((attempt + 1))
done
