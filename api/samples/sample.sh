#!/usr/bin/env bash
# modemd sample (curl, openssl, coreutils): send an SMS, send a CSV file as a campaign,
# verify an IPN signature.
#
#   MODEMD_APIKEY=mdk_... ./sample.sh send +393331234567 "Hello"
#   MODEMD_APIKEY=mdk_... ./sample.sh bulk clients.csv "Hello {name}"   (columns to,name)
#   ./sample.sh verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
#                                         WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
# Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).
set -euo pipefail

URL="${MODEMD_URL:-http://127.0.0.1:8080}"
PIN="${MODEMD_PIN:-YOUR_PIN}"
TOLERANCE_S=300  # Standard Webhooks: refuse signatures older or newer than 5 minutes

send() {  # POST /api/v1/send as a form; print the answer; succeed when status_code is 1 or 2
  local answer
  answer=$(curl -sS --max-time 30 "${URL%/}/api/v1/send" \
    -H "Authorization: Bearer ${MODEMD_APIKEY}" \
    --data-urlencode "pin=${PIN}" --data-urlencode "to=$1" --data-urlencode "msg=$2")
  echo "$answer"
  grep -Eq '"status_code": ?"[12]"' <<<"$answer"
}

bulk() {  # POST a CSV file as a campaign (its validation report), then start it
  local draft id
  draft=$(curl -sS --max-time 300 "${URL%/}/api/v1/campaigns" \
    -H "Authorization: Bearer ${MODEMD_APIKEY}" \
    -F "pin=${PIN}" -F "template=$2" -F "file=@$1;type=text/csv")
  echo "$draft"
  id=$(grep -Eo '"campaign_id": ?"cmp_[0-9a-f]+"' <<<"$draft" | head -1 | grep -Eo 'cmp_[0-9a-f]+') \
    || return 1
  curl -sS --max-time 30 -X POST "${URL%/}/api/v1/campaigns/${id}/start" \
    -H "Authorization: Bearer ${MODEMD_APIKEY}" | tee /dev/stderr | grep -q '"response": \?"200"'
}

verify_ipn() {  # body on stdin; succeed when signed with $MODEMD_IPN_SECRET less than 5 min ago
  local id="${WEBHOOK_ID:-}" ts="${WEBHOOK_TIMESTAMP:-0}" body key expected entry
  [[ "$ts" =~ ^[0-9]+$ ]] || return 1
  local age=$(( $(date +%s) - 10#${ts} ))
  (( age <= TOLERANCE_S && -age <= TOLERANCE_S )) || return 1
  body=$(mktemp)
  trap 'rm -f "$body"' RETURN
  cat >"$body"  # kept as a file: the HMAC covers the exact bytes, trailing newlines included
  key=$(printf '%s' "${MODEMD_IPN_SECRET#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  expected=$({ printf '%s.%s.' "$id" "$ts"; cat "$body"; } \
    | openssl dgst -sha256 -mac HMAC -macopt "hexkey:${key}" -binary | base64 -w0)
  for entry in ${WEBHOOK_SIGNATURE:-}; do
    # a plain comparison: fine for a demo; compare in constant time in production code
    [[ "$entry" == "v1,${expected}" ]] && return 0
  done
  return 1
}

case "${1:-send}" in
  send) send "${2:-${MODEMD_TO:-}}" "${3:-${MODEMD_MSG:-Hello from modemd}}" ;;
  bulk) bulk "$2" "$3" ;;
  verify) if verify_ipn; then echo valid; else echo invalid; exit 1; fi ;;
  *) echo "usage: sample.sh [send [TO [MSG]] | bulk FILE TEMPLATE | verify]" >&2; exit 2 ;;
esac
