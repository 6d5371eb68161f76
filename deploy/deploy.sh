#!/usr/bin/env bash
# Deploys backstop to Cloud Run and creates or updates its Cloud Scheduler jobs.
# Needs: gcloud (authenticated), an Artifact Registry repo, the secret bettingpros-api-key,
# the service account backstop@…, and a Filestore share for the ledger (see service.yaml).
# The secret backstop-admin-token (the operators' token) is made on the first deploy.
# Every gcloud call that fails stops the deploy with a non-zero exit.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/deploy.sh [--dry-run]

Makes the operators' admin token (secret backstop-admin-token) if it does not exist yet,
builds the image, replaces the Cloud Run service (deploy/service.yaml), makes it private
(only the scheduler's service account may invoke it) and creates or updates one Cloud
Scheduler job per schedule entry in scrapers/*.json.

  --dry-run   print the commands that change anything instead of running them
  -h, --help  print this help

Environment: GCP_PROJECT_ID (nba-props-platform), REGION (us-west2),
SCHEDULER_SA (scheduler-invoker@PROJECT.iam.gserviceaccount.com),
SERVICE_SA (backstop@PROJECT.iam.gserviceaccount.com).
Exit status: 0 deployed, 1 a command failed, 2 bad arguments.
EOF
}

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
PROJECT=${GCP_PROJECT_ID:-nba-props-platform}
REGION=${REGION:-us-west2}
SERVICE=backstop
IMAGE="$REGION-docker.pkg.dev/$PROJECT/backstop/backstop:$(git rev-parse --short HEAD 2>/dev/null || echo latest)"
SCHEDULER_SA=${SCHEDULER_SA:-scheduler-invoker@$PROJECT.iam.gserviceaccount.com}
SERVICE_SA=${SERVICE_SA:-backstop@$PROJECT.iam.gserviceaccount.com}
ADMIN_SECRET=backstop-admin-token
WHERE=(--project "$PROJECT" --region "$REGION")

# A command that changes something: printed on a dry run, run otherwise.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf '+ %q' "$1"; shift; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

# The scheduler jobs, one per line: name, cron, time zone, /scrape body (tab-separated).
scheduler_jobs() {
  python3 - scrapers/*.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    for j in d["schedule"]:
        body = json.dumps({"scraper": d["name"], "date": "TODAY", "market_type": j["market_type"], "group": "prod"})
        print("\t".join([j["job"], j["cron"], j["time_zone"], body]))
PY
}

# The operators' admin token (BACKSTOP_ADMIN_TOKEN in service.yaml): made once, 32 random
# bytes as hex, straight from openssl into Secret Manager (never on a command line, never
# printed); the service's account may read it. Operators read it with
#   gcloud secrets versions access latest --secret=backstop-admin-token
ensure_admin_token() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "# dry run: the secret $ADMIN_SECRET is not looked up; it is shown made (an existing one is kept)"
  elif gcloud secrets describe "$ADMIN_SECRET" --project "$PROJECT" >/dev/null 2>&1; then
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ openssl rand -hex 32 | gcloud secrets create $ADMIN_SECRET --project $PROJECT --replication-policy=automatic --data-file=-"
  else
    openssl rand -hex 32 | tr -d '\n' | gcloud secrets create "$ADMIN_SECRET" --project "$PROJECT" \
      --replication-policy=automatic --data-file=-
  fi
  run gcloud secrets add-iam-policy-binding "$ADMIN_SECRET" --project "$PROJECT" \
    --member="serviceAccount:$SERVICE_SA" --role=roles/secretmanager.secretAccessor
}

deploy_service() {
  run gcloud builds submit --project "$PROJECT" --tag "$IMAGE" .
  sed "s#image: .*#image: $IMAGE#" deploy/service.yaml > "${TMPDIR:-/tmp}/backstop-service.yaml"
  run gcloud run services replace "${TMPDIR:-/tmp}/backstop-service.yaml" "${WHERE[@]}"
}

# No unauthenticated access: only the scheduler's and operators' identities may call it.
make_private() {
  local policy="allUsers (unknown on a dry run)"
  if [ "$DRY_RUN" = 0 ]; then
    policy=$(gcloud run services get-iam-policy "$SERVICE" "${WHERE[@]}" --format=yaml)
  fi
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
  local url existing jobs name schedule tz body
  if [ "$DRY_RUN" = 1 ]; then
    url="https://$SERVICE-PLACEHOLDER-uw.a.run.app"
    existing=""
    echo "# dry run: existing jobs are not listed; each is shown created (an existing one is updated)"
  else
    url=$(gcloud run services describe "$SERVICE" "${WHERE[@]}" --format='value(status.url)')
    existing=$(gcloud scheduler jobs list --project "$PROJECT" --location "$REGION" \
      --format='value(name.basename())')
  fi
  [ -n "$url" ] || { echo "deploy.sh: the service $SERVICE has no URL" >&2; exit 1; }
  jobs=$(scheduler_jobs)
  while IFS=$'\t' read -r name schedule tz body; do
    [ -n "$name" ] || continue
    local common=(--project "$PROJECT" --location "$REGION" --schedule "$schedule"
      --time-zone "$tz" --uri "$url/scrape" --http-method POST --message-body "$body"
      --oidc-service-account-email "$SCHEDULER_SA" --oidc-token-audience "$url"
      --attempt-deadline 300s --max-retry-attempts 2)
    if grep -qxF "$name" <<<"$existing"; then
      run gcloud scheduler jobs update http "$name" "${common[@]}" \
        --update-headers Content-Type=application/json
    else
      run gcloud scheduler jobs create http "$name" "${common[@]}" \
        --headers Content-Type=application/json
    fi
  done <<<"$jobs"
}

ensure_admin_token
deploy_service
make_private
deploy_scheduler_jobs
