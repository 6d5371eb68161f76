#!/usr/bin/env bash
# Deploys backstop to Cloud Run (ledger on Cloud SQL for PostgreSQL) and creates or updates its
# Cloud Scheduler jobs. What must exist before the first deploy (the Cloud SQL instance, its
# database and user, the secrets) is in README "Deploying"; deploy/deploy.sh --help lists the
# values it needs. It never reads a secret's value: the one secret it makes (the operators'
# admin token) goes from openssl straight into Secret Manager.
#
# Phases, each finished before the next starts:
#   1. values: flags, then environment, then defaults; any missing or malformed value stops it
#      (exit 2) before gcloud is called, naming each;
#   2. checks (reads only): the secrets the service mounts, the database and its user; anything
#      missing stops it (exit 1) before anything changes, saying how to make it;
#   3. changes: the admin token (once), the service account's roles (where missing), the image,
#      the service, its IAM, the scheduler jobs and the alert's log-based metric (created, or
#      updated in place).
# Every gcloud call that fails stops the deploy with a non-zero exit.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/deploy.sh [--dry-run] [--NAME VALUE | --NAME=VALUE ...]

Deploys backstop to Cloud Run with its ledger on Cloud SQL for PostgreSQL: checks that the
secrets, the database and its user exist; makes the operators' admin token (secret
backstop-admin-token) if it does not exist yet; grants the service account
roles/cloudsql.client and read access to each secret it mounts, where missing; builds the
image; replaces the service (deploy/service.yaml, every ${PLACEHOLDER} filled); makes it
private (only the scheduler's account may invoke it); creates or updates one Cloud Scheduler
job per schedule entry in scrapers/*.json and scrapers/*/*.json; makes (or updates) the
log-based metric backstop-still-lost that an alert policy pages on.

Values (flag, environment variable, default):
  --cloudsql-instance  CLOUDSQL_INSTANCE  required: the connection name PROJECT:REGION:INSTANCE
  --phase2-url         PHASE2_URL         required: Phase 2's bare https:// URL (no /process)
  --project            GCP_PROJECT_ID     nba-props-platform
  --region             REGION             us-west2
  --db-name            DB_NAME            backstop
  --db-user            DB_USER            backstop (its password: secret backstop-ledger-password)
  --image              IMAGE              REGION-docker.pkg.dev/PROJECT/backstop/backstop:COMMIT
  --service-account    SERVICE_SA         backstop@PROJECT.iam.gserviceaccount.com
  --scheduler-account  SCHEDULER_SA       scheduler-invoker@PROJECT.iam.gserviceaccount.com

  --dry-run   print every command instead of running any (reads as "? …", changes as "+ …",
              each as on a first deploy) and keep the filled-in service file
  -h, --help  print this help

Exit status: 0 deployed (or printed), 1 a command failed or something the deploy needs does
not exist, 2 bad arguments or a missing or malformed value.
EOF
}

bad_usage() { echo "deploy.sh: $*" >&2; usage >&2; exit 2; }
fail() { echo "deploy.sh: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."

# --- 1. values ---------------------------------------------------------------------------
DRY_RUN=0
CLOUDSQL_INSTANCE=${CLOUDSQL_INSTANCE:-} PHASE2_URL=${PHASE2_URL:-}
PROJECT=${GCP_PROJECT_ID:-} REGION=${REGION:-} DB_NAME=${DB_NAME:-} DB_USER=${DB_USER:-}
IMAGE=${IMAGE:-} SERVICE_SA=${SERVICE_SA:-} SCHEDULER_SA=${SCHEDULER_SA:-}
declare -A FLAG_VAR=(
  [--cloudsql-instance]=CLOUDSQL_INSTANCE [--phase2-url]=PHASE2_URL [--project]=PROJECT
  [--region]=REGION [--db-name]=DB_NAME [--db-user]=DB_USER [--image]=IMAGE
  [--service-account]=SERVICE_SA [--scheduler-account]=SCHEDULER_SA
)
while [ $# -gt 0 ]; do
  arg=$1; shift
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    --*=*)
      [ -n "${FLAG_VAR[${arg%%=*}]:-}" ] || bad_usage "unknown argument: ${arg%%=*} (its value not shown)"
      printf -v "${FLAG_VAR[${arg%%=*}]}" '%s' "${arg#*=}" ;;
    *)
      [ -n "${FLAG_VAR[$arg]:-}" ] || bad_usage "unknown argument: $arg"
      [ $# -gt 0 ] || bad_usage "$arg needs a value"
      printf -v "${FLAG_VAR[$arg]}" '%s' "$1"; shift ;;
  esac
done

PROJECT=${PROJECT:-nba-props-platform}
REGION=${REGION:-us-west2}
DB_NAME=${DB_NAME:-backstop}
DB_USER=${DB_USER:-backstop}
SERVICE_SA=${SERVICE_SA:-backstop@$PROJECT.iam.gserviceaccount.com}
SCHEDULER_SA=${SCHEDULER_SA:-scheduler-invoker@$PROJECT.iam.gserviceaccount.com}
PHASE2_URL=${PHASE2_URL%/}
if [ -z "$IMAGE" ] && commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  [ -z "$(git status --porcelain 2>/dev/null)" ] || commit+=-dirty
  IMAGE="$REGION-docker.pkg.dev/$PROJECT/backstop/backstop:$commit"
fi

# Every problem with the values at once, each naming its flag and variable.
problems=()
need() { # VALUE FLAG VAR WHAT EXAMPLE
  [ -n "$1" ] || problems+=("$4 is missing: give $2 or set $3 (e.g. $5)")
}
shape() { # VALUE REGEX FLAG WHAT
  [ -z "$1" ] || [[ "$1" =~ $2 ]] || problems+=("$3 ${1@Q} is not $4")
}
need "$CLOUDSQL_INSTANCE" --cloudsql-instance CLOUDSQL_INSTANCE \
  "the Cloud SQL instance's connection name" "$PROJECT:$REGION:backstop"
need "$PHASE2_URL" --phase2-url PHASE2_URL "Phase 2's URL" \
  "https://nba-phase2-raw-processors-….a.run.app"
need "$IMAGE" --image IMAGE "the image to build (no git commit to tag it with)" \
  "$REGION-docker.pkg.dev/$PROJECT/backstop/backstop:v1"
shape "$CLOUDSQL_INSTANCE" '^[a-z0-9.:-]+:[a-z0-9-]+:[a-z0-9-]+$' --cloudsql-instance \
  "a connection name PROJECT:REGION:INSTANCE (gcloud sql instances describe INSTANCE --format='value(connectionName)')"
shape "$PHASE2_URL" '^https://[A-Za-z0-9.-]+$' --phase2-url "a bare https:// URL (no path: backstop adds /process)"
shape "$PROJECT" '^[a-z0-9.:-]+$' --project "a project id"
shape "$REGION" '^[a-z]+-[a-z]+[0-9]+$' --region "a region such as us-west2"
shape "$DB_NAME" '^[A-Za-z_][A-Za-z0-9_-]*$' --db-name "a database name"
shape "$DB_USER" '^[A-Za-z_][A-Za-z0-9_-]*$' --db-user "a built-in database user's name"
shape "$SERVICE_SA" '^[^@[:space:]]+@[^@[:space:]]+$' --service-account "a service account email"
shape "$SCHEDULER_SA" '^[^@[:space:]]+@[^@[:space:]]+$' --scheduler-account "a service account email"
shape "$IMAGE" '^[^[:space:]]+$' --image "an image reference"
if [ "${#problems[@]}" -gt 0 ]; then
  echo "deploy.sh: cannot deploy, nothing was changed:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  echo "deploy/deploy.sh --help lists every value." >&2
  exit 2
fi
SQL_PROJECT=${CLOUDSQL_INSTANCE%:*:*}     # the instance may live in another project
SQL_INSTANCE=${CLOUDSQL_INSTANCE##*:}
SERVICE=backstop
ALERT_METRIC=backstop-still-lost
STILL_LOST_MESSAGE='lost data the nightly recovery could not recover'
ADMIN_SECRET=backstop-admin-token
WHERE=(--project "$PROJECT" --region "$REGION")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/backstop-deploy.XXXXXX")
[ "$DRY_RUN" = 1 ] || trap 'rm -rf "$WORK"' EXIT

# deploy/service.yaml with every ${NAME} filled; a placeholder this script does not know
# stops the deploy. Prints the names of the secrets the service mounts, one per line.
render_service() {
  PROJECT=$PROJECT REGION=$REGION IMAGE=$IMAGE SERVICE_ACCOUNT=$SERVICE_SA \
    CLOUDSQL_INSTANCE=$CLOUDSQL_INSTANCE DB_NAME=$DB_NAME DB_USER=$DB_USER \
    PHASE2_URL=$PHASE2_URL python3 - deploy/service.yaml "$WORK/service.yaml" <<'PY'
import os, re, sys
known = ["PROJECT", "REGION", "IMAGE", "SERVICE_ACCOUNT", "CLOUDSQL_INSTANCE", "DB_NAME",
         "DB_USER", "PHASE2_URL"]
text = open(sys.argv[1]).read()
for name in known:
    text = text.replace("${%s}" % name, os.environ[name])
code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
left = sorted(set(re.findall(r"\$\{[^}]*\}", code)))
if left:
    sys.exit("deploy.sh: deploy/service.yaml has placeholders deploy.sh does not fill: " + ", ".join(left))
open(sys.argv[2], "w").write(text)
refs = re.findall(r"secretKeyRef:\s*\n\s*name:\s*(\S+)|secretName:\s*(\S+)", text)
print("\n".join(sorted({a or b for a, b in refs})))
PY
}

# The scheduler jobs, one per line, tab-separated: name, cron, time zone, route, method, body,
# attempt deadline (s). A scraper's entries call POST /scrape for one market (contract section
# 7); a declaration with a "route" (scrapers/maintenance/sweep.json) calls that route with its
# own method, body and attempt_deadline_secs.
scheduler_jobs() {
  local files
  files=$(shopt -s nullglob; printf '%s\n' scrapers/*.json scrapers/*/*.json)
  mapfile -t files <<<"$files"
  python3 - "${files[@]}" <<'PY'
import json, re, sys
seen = {}
def bad(path, why):
    sys.exit(f"deploy.sh: {path}: {why}")
for path in sys.argv[1:]:
    d = json.load(open(path))
    for j in d.get("schedule", []):
        name = j.get("job", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,500}", name):
            bad(path, f"job name {name!r} is not letters, digits, - and _")
        if name in seen:
            bad(path, f"job {name} is declared in {seen[name]} too")
        seen[name] = path
        if "route" in d:
            route, method, body = d["route"], d.get("method", "POST"), json.dumps(d.get("body", {}))
            deadline = d.get("attempt_deadline_secs", 300)
        else:
            b = {"scraper": d["name"], "date": "TODAY", "market_type": j.get("market_type"), "group": "prod"}
            if b["market_type"] is None:
                del b["market_type"]
            route, method, body, deadline = "/scrape", "POST", json.dumps(b), 300
        if not route.startswith("/"):
            bad(path, f"route {route!r} does not start with /")
        if not 15 <= deadline <= 1800:
            bad(path, f"attempt deadline {deadline} s is outside Cloud Scheduler's 15 to 1800 s")
        print("\t".join([name, j["cron"], j["time_zone"], route, method, body, str(deadline)]))
PY
}

SECRETS=$(render_service)
JOBS=$(scheduler_jobs)

# On a dry run each command is printed to the script's stdout (fd 3), even from inside $(…).
exec 3>&1
print_command() { printf '%s %q' "$1" "$2" >&3; shift 2; printf ' %q' "$@" >&3; printf '\n' >&3; }
# A command that changes something: printed on a dry run ("+ …"), run otherwise.
run() { if [ "$DRY_RUN" = 1 ]; then print_command + "$@"; else "$@"; fi; }
# A command that only reads: printed on a dry run ("? …", answering nothing), run otherwise.
read_only() { if [ "$DRY_RUN" = 1 ]; then print_command '?' "$@"; else "$@"; fi; }

# --- 2. checks -----------------------------------------------------------------------------
# The secrets the service mounts (all but the admin token, made below) and the database with
# its user must exist: else stop here, saying how to make each.
check_prerequisites() {
  local missing=() secret said users
  for secret in $SECRETS; do
    [ "$secret" != "$ADMIN_SECRET" ] || continue
    if ! said=$(read_only gcloud secrets versions describe latest --secret="$secret" \
      --project "$PROJECT" --format='value(name)' 2>&1); then
      missing+=("the secret $secret has no readable version (gcloud: ${said##*$'\n'})")
    fi
  done
  if ! said=$(read_only gcloud sql databases describe "$DB_NAME" --instance "$SQL_INSTANCE" \
    --project "$SQL_PROJECT" --format='value(name)' 2>&1); then
    missing+=("the database $DB_NAME on $CLOUDSQL_INSTANCE (gcloud: ${said##*$'\n'})")
  fi
  users=$(read_only gcloud sql users list --instance "$SQL_INSTANCE" --project "$SQL_PROJECT" \
    --format='value(name)') || fail "could not list the users of $CLOUDSQL_INSTANCE"
  if [ "$DRY_RUN" = 0 ] && ! grep -qxF "$DB_USER" <<<"$users"; then
    missing+=("the database user $DB_USER on $CLOUDSQL_INSTANCE")
  fi
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "deploy.sh: cannot deploy, nothing was changed; missing in the project:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "README \"Deploying\" says how to make each (first deploy only)." >&2
  exit 1
}

# --- 3. changes ----------------------------------------------------------------------------
# The operators' admin token (BACKSTOP_ADMIN_TOKEN in service.yaml): made once, 32 random
# bytes as hex, straight from openssl into Secret Manager (never on a command line, never
# printed). Operators read it with
#   gcloud secrets versions access latest --secret=backstop-admin-token
ensure_admin_token() {
  if read_only gcloud secrets describe "$ADMIN_SECRET" --project "$PROJECT" >/dev/null 2>&1; then
    [ "$DRY_RUN" = 1 ] || return 0
    echo "# dry run: the secret $ADMIN_SECRET is shown made (an existing one is kept)"
    echo "+ openssl rand -hex 32 | gcloud secrets create $ADMIN_SECRET --project $PROJECT --replication-policy=automatic --data-file=-"
  else
    openssl rand -hex 32 | tr -d '\n' | gcloud secrets create "$ADMIN_SECRET" --project "$PROJECT" \
      --replication-policy=automatic --data-file=-
  fi
}

# Grants ROLE on a resource (`secrets NAME` or `projects ID`) to the service account unless it
# holds it; a refusal names the command someone with the right to grant it can run.
ensure_role() {
  local kind=$1 resource=$2 role=$3 held where=() only=()
  # A secret lives in a project; a project-wide grant is unconditional (without it, gcloud
  # asks which condition when the policy holds conditional bindings).
  if [ "$kind" = secrets ]; then where=(--project "$PROJECT"); else only=(--condition=None); fi
  held=$(read_only gcloud "$kind" get-iam-policy "$resource" "${where[@]}" \
    --flatten='bindings[].members' --filter="bindings.members:serviceAccount:$SERVICE_SA" \
    --format='value(bindings.role)')
  ! grep -qxF "$role" <<<"$held" || return 0
  local grant=(gcloud "$kind" add-iam-policy-binding "$resource" "${where[@]}" "${only[@]}"
    --member="serviceAccount:$SERVICE_SA" --role="$role")
  run "${grant[@]}" >/dev/null ||
    fail "could not grant $role on $kind $resource to $SERVICE_SA; someone who may: ${grant[*]}"
}

grant_roles() {
  local secret
  for secret in $SECRETS; do
    ensure_role secrets "$secret" roles/secretmanager.secretAccessor
  done
  ensure_role projects "$SQL_PROJECT" roles/cloudsql.client
}

deploy_service() {
  run gcloud builds submit --project "$PROJECT" --tag "$IMAGE" .
  [ "$DRY_RUN" = 0 ] || echo "# dry run: the filled-in service file is $WORK/service.yaml"
  run gcloud run services replace "$WORK/service.yaml" "${WHERE[@]}"
}

# No unauthenticated access: only the scheduler's and operators' identities may call it.
make_private() {
  local policy
  policy=$(read_only gcloud run services get-iam-policy "$SERVICE" "${WHERE[@]}" --format=yaml)
  [ "$DRY_RUN" = 0 ] || policy="allUsers (unknown on a dry run)"
  if grep -q 'allUsers' <<<"$policy"; then
    run gcloud run services remove-iam-policy-binding "$SERVICE" "${WHERE[@]}" \
      --member=allUsers --role=roles/run.invoker --quiet
  fi
  run gcloud run services add-iam-policy-binding "$SERVICE" "${WHERE[@]}" \
    --member="serviceAccount:$SCHEDULER_SA" --role=roles/run.invoker
}

# Creates the jobs that do not exist yet and updates the others (`update http` takes
# --update-headers, `create http` --headers). The OIDC audience is the bare service URL.
deploy_scheduler_jobs() {
  local url existing name schedule tz route method body deadline
  url=$(read_only gcloud run services describe "$SERVICE" "${WHERE[@]}" --format='value(status.url)')
  existing=$(read_only gcloud scheduler jobs list --project "$PROJECT" --location "$REGION" \
    --format='value(name.basename())')
  if [ "$DRY_RUN" = 1 ]; then
    url="https://$SERVICE-PLACEHOLDER-uw.a.run.app"
    echo "# dry run: each job is shown created (an existing one is updated)"
  fi
  [ -n "$url" ] || fail "the service $SERVICE has no URL"
  while IFS=$'\t' read -r name schedule tz route method body deadline; do
    [ -n "$name" ] || continue
    local common=(--project "$PROJECT" --location "$REGION" --schedule "$schedule"
      --time-zone "$tz" --uri "$url$route" --http-method "$method" --message-body "$body"
      --oidc-service-account-email "$SCHEDULER_SA" --oidc-token-audience "$url"
      --attempt-deadline "${deadline}s" --max-retry-attempts 2)
    if grep -qxF "$name" <<<"$existing"; then
      run gcloud scheduler jobs update http "$name" "${common[@]}" \
        --update-headers Content-Type=application/json
    else
      run gcloud scheduler jobs create http "$name" "${common[@]}" \
        --headers Content-Type=application/json
    fi
  done <<<"$JOBS"
}

# A log-based metric counting the lines that need a person: what a nightly recovery job could
# not recover (src/reprocess/mod.rs, STILL_LOST_MESSAGE; never reworded). Made once, its filter
# kept in step afterwards; the alert policy on it names a notification channel (README).
deploy_alert_metric() {
  local filter existing
  filter="resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"$SERVICE\""
  filter+=" AND severity=ERROR AND jsonPayload.message=\"$STILL_LOST_MESSAGE\""
  existing=$(read_only gcloud logging metrics list --project "$PROJECT" --format='value(name)')
  local verb=create
  if grep -qxF "$ALERT_METRIC" <<<"$existing"; then verb=update; fi
  run gcloud logging metrics "$verb" "$ALERT_METRIC" --project "$PROJECT" \
    --description "(date, market) pairs a nightly recovery could not recover: page a person" \
    --log-filter "$filter"
}

check_prerequisites
ensure_admin_token
grant_roles
deploy_service
make_private
deploy_scheduler_jobs
deploy_alert_metric
