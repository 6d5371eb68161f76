#!/usr/bin/env bash
# Recovers the lost dates of a range through a running backstop service (curl and jq only).
#
#   deploy/recover.sh FROM TO [MARKET] [--yes] [--dry-run]
#
# 1. asks the service for the gaps in the range and prints the lost ones (date, market,
#    category, reason); nothing lost: says so and exits 0, sending nothing;
# 2. asks for the plan (a dry run) and prints its actions, upstream requests and ETA;
# 3. asks `Recover? [y/N]` unless --yes (no terminal to ask and no --yes: stops, exit 3);
# 4. starts the recovery, follows it until it has finished and checked the range again, and
#    prints what is now complete and what is still lost, with the reasons.
#
# Service: BACKSTOP_URL. Admin token: BACKSTOP_ADMIN_TOKEN (sent as Authorization: Bearer, never
# printed, never on a command line). Against https:// (Cloud Run) it also sends Google's
# identity token (gcloud auth print-identity-token) as X-Serverless-Authorization: Cloud Run
# checks IAM on that header and passes Authorization through to backstop.
#
# Exit: 0 nothing in the range is lost (now); 1 something is (or the service failed);
#       3 bad input or configuration (arguments, URL, token, no confirmation possible).
set -uo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/recover.sh FROM TO [MARKET] [--yes] [--dry-run]

Finds the lost dates from FROM to TO (YYYY-MM-DD, TODAY or YESTERDAY, US Eastern) through the
service at $BACKSTOP_URL, shows the recovery plan, asks before recovering, follows the job and
reports what is complete and what is still lost.

  MARKET      points, rebounds, assists, threes, steals, blocks or all
              (default: the markets the deployment schedules)
  --yes       recover without asking
  --dry-run   show the gaps and the plan, change nothing
  -h, --help  this help

Environment: BACKSTOP_URL (required), BACKSTOP_ADMIN_TOKEN (when the service wants one;
on Cloud Run: gcloud secrets versions access latest --secret=backstop-admin-token).
Exit status: 0 nothing in the range is lost, 1 something is, 3 bad input or configuration.
EOF
}

bad() { echo "recover.sh: $*" >&2; exit 3; }
failed() { echo "recover.sh: $*" >&2; exit 1; }

YES=0 DRY_RUN=0
POSITIONAL=()
for arg in "$@"; do
  case "$arg" in
    --yes) YES=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "recover.sh: unknown option: $arg" >&2; usage >&2; exit 3 ;;
    *) POSITIONAL+=("$arg") ;;
  esac
done
if [ "${#POSITIONAL[@]}" -lt 2 ] || [ "${#POSITIONAL[@]}" -gt 3 ]; then
  echo "recover.sh: give FROM and TO, and at most one MARKET" >&2; usage >&2; exit 3
fi
FROM=${POSITIONAL[0]} TO=${POSITIONAL[1]} MARKET=${POSITIONAL[2]:-}
for d in "$FROM" "$TO"; do
  [[ "$d" =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2}|TODAY|YESTERDAY)$ ]] ||
    bad "date $d: use YYYY-MM-DD, TODAY or YESTERDAY"
done
if [ -n "$MARKET" ]; then
  [[ "$MARKET" =~ ^(points|rebounds|assists|threes|steals|blocks|all)$ ]] ||
    bad "unknown market $MARKET: use points, rebounds, assists, threes, steals, blocks or all"
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || bad "$tool is not installed (this script needs curl and jq)"
done
URL=${BACKSTOP_URL:-}
URL=${URL%/}
[ -n "$URL" ] || bad "set BACKSTOP_URL to the service's address (e.g. https://backstop-….a.run.app)"
[[ "$URL" =~ ^https?://[^/[:space:]]+(/[^[:space:]]*)?$ ]] || bad "BACKSTOP_URL=$URL is not an http(s) address"

# The tokens go to curl in a file only this user can read, never on a command line.
WORK=$(mktemp -d) || failed "cannot make a temporary directory"
trap 'rm -rf "$WORK"' EXIT
HEADERS="$WORK/headers" ANSWER="$WORK/answer"
(umask 077 && : >"$HEADERS")
if [ -n "${BACKSTOP_ADMIN_TOKEN:-}" ]; then
  printf 'Authorization: Bearer %s\n' "$BACKSTOP_ADMIN_TOKEN" >>"$HEADERS"
fi
if [[ "$URL" == https://* ]]; then
  command -v gcloud >/dev/null || bad "gcloud is not installed: it gives the identity token Cloud Run wants"
  IDENTITY=$(gcloud auth print-identity-token 2>/dev/null) && [ -n "$IDENTITY" ] ||
    bad "gcloud auth print-identity-token gave no token: run gcloud auth login (an account with roles/run.invoker on the service)"
  printf 'X-Serverless-Authorization: Bearer %s\n' "$IDENTITY" >>"$HEADERS"
  unset IDENTITY
fi

# call METHOD PATH [BODY]: the answer's JSON in $ANSWER; stops on anything but a 2xx.
call() {
  local method=$1 path=$2 body=${3:-} status
  local args=(-sS -o "$ANSWER" -w '%{http_code}' -X "$method" -H "@$HEADERS" --max-time 300)
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  if ! status=$(curl "${args[@]}" "$URL$path" 2>"$WORK/curl-error"); then
    failed "$method $path: the service at $URL did not answer ($(cat "$WORK/curl-error"))"
  fi
  local said
  said=$(jq -r '.error // empty' "$ANSWER" 2>/dev/null || true)
  [ -n "$said" ] || said=$(head -c 300 "$ANSWER")
  case "$status" in
    2??) return 0 ;;
    401) bad "$method $path: the service wants the admin token: set BACKSTOP_ADMIN_TOKEN ($said)" ;;
    403) bad "$method $path: refused (403): on Cloud Run, the identity of gcloud auth print-identity-token needs roles/run.invoker on the service ($said)" ;;
    4??) bad "$method $path: $status $said" ;;
    *) failed "$method $path: $status $said" ;;
  esac
}

# The request body for the range, {"from", "to"[, "market"]}, merged with $1 (a jq object).
request() {
  local extra=${1:-'{}'}
  jq -cn --arg from "$FROM" --arg to "$TO" --arg market "$MARKET" \
    '{from: $from, to: $to} + (if $market == "" then {} else {market: $market} end) + '"$extra"
}

LOST_CATEGORIES='["scraper_failed", "processor_failed", "unknown"]'
ROW='"\(.date)  \(.market | . + " " * (8 - length))  \(.category | . + " " * (16 - length))  \(.reason)"'

# 1. The gaps.
query="from=$FROM&to=$TO"
[ -n "$MARKET" ] && query="$query&market=$MARKET"
call GET "/gaps?$query"
# A range the service could not judge within one request comes back 202 with the rows judged
# so far and a detection job: follow it (each ask carries it on) to the whole report.
while status_url=$(jq -er '.status_url // empty' "$ANSWER"); do
  [ -t 2 ] && printf '\rchecking the range: %s (date, market) pair(s) judged so far\033[K' \
    "$(jq '.rows | length' "$ANSWER")" >&2
  sleep 2
  call GET "$status_url"
done
[ -t 2 ] && printf '\r\033[K' >&2
pairs=$(jq '.rows | length' "$ANSWER")
lost=$(jq --argjson lost "$LOST_CATEGORIES" \
  '[.rows[] | select(.verdict.category as $c | $lost | index($c))] | length' "$ANSWER")
echo "$FROM to $TO: $pairs (date, market) pair(s), $lost lost or not judged"
if [ "$lost" -eq 0 ]; then
  echo "nothing in the range is lost: nothing to recover"
  exit 0
fi
jq -r --argjson lost "$LOST_CATEGORIES" ".rows[] | select(.verdict.category as \$c | \$lost | index(\$c))
  | {date, market, category: .verdict.category, reason: .verdict.reason} | $ROW" "$ANSWER"

# 2. The plan.
call POST /reprocess "$(request '{dry_run: true}')"
echo
echo "plan:"
jq -r '.plan.actions[] | "  \(.kind | . + " " * (9 - length))  \(.date)  \(.market)  \(.reason)"' "$ANSWER"
jq -r '.plan.skipped[] | "  skipped    \(.date)  \(.market)  \(.reason)"' "$ANSWER"
actions=$(jq '.plan.actions | length' "$ANSWER")
jq -r '"\(.plan.actions | length) action(s), \(.plan.skipped | length) skipped; about \(.plan.upstream_requests) upstream requests, ~\(.plan.eta_seconds | floor) s at the service'"'"'s rate"' "$ANSWER"
if [ "$actions" -eq 0 ]; then
  echo "nothing here can be recovered by backstop: see the reasons above"
  exit 1
fi
if [ "$DRY_RUN" = 1 ]; then
  echo "dry run: nothing changed"
  exit 1
fi

# 3. Ask.
if [ "$YES" = 0 ]; then
  if [ ! -t 0 ]; then
    bad "no terminal to ask 'Recover? [y/N]' and no --yes: nothing changed"
  fi
  read -r -p "Recover? [y/N] " answer
  case "$answer" in
    y | Y | yes | YES) ;;
    *) echo "not recovered: nothing changed"; exit 1 ;;
  esac
fi

# 4. Recover and follow. repeat_window_secs=0: this script waits for its job, so the same
# request after a finished job plans anew rather than showing the old one.
call POST "/reprocess?repeat_window_secs=0" "$(request)"
JOB=$(jq -r '.job_id' "$ANSWER")
jq -r '"job \(.job_id): \(.message)"' "$ANSWER"
trap 'echo; echo "stopped following; the job goes on in the service: GET $URL/reprocess/$JOB" >&2; exit 1' INT
last=""
while :; do
  call GET "/reprocess/$JOB"
  line=$(jq -r '"job \(.job.id) \(.job.state): " + ([.progress | to_entries[] | "\(.key) \(.value)"] | join(", "))
    + (if .job.state != "running" and .job.result == null then " (checking the range again)" else "" end)' "$ANSWER")
  if [ -t 2 ]; then
    printf '\r%s\033[K' "$line" >&2
  elif [ "$line" != "$last" ]; then
    echo "$line" >&2
  fi
  last=$line
  jq -e '.job.state != "running" and .job.result != null' "$ANSWER" >/dev/null && break
  sleep 2
done
[ -t 2 ] && echo >&2

echo
jq -r '.job.actions[] | "  \(.kind | . + " " * (9 - length))  \(.game_date)  \(.market)  \(.state): \(.detail // "")"' "$ANSWER"
jq -r '.job.result.checked[] | select(.complete) | "complete      \(.date)  \(.market)"' "$ANSWER"
jq -r '.job.result.lost[] | "still lost    " + '"$ROW" "$ANSWER"
jq -r '"\(.job.result.now_complete) of \(.job.actions | length) action(s) now complete; \(.job.result.still_lost) (date, market) pair(s) in the range still lost or not judged"' "$ANSWER"
still=$(jq '.job.result.still_lost' "$ANSWER")
if [ "$still" -eq 0 ]; then
  echo "nothing in the range is lost"
  exit 0
fi
echo "run this again once the causes above are dealt with: it recovers only what is still lost"
exit 1
