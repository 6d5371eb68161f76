#!/usr/bin/env bash
# Deploys backstop to Cloud Run and (re)creates its Cloud Scheduler jobs.
#   deploy/deploy.sh --dry-run   prints every command instead of running it
# Needs: gcloud (authenticated), an Artifact Registry repo, the secret bettingpros-api-key,
# the service account backstop@…, and a Filestore share for the ledger (see service.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=${GCP_PROJECT_ID:-nba-props-platform}
REGION=${REGION:-us-west2}
SERVICE=backstop
IMAGE="$REGION-docker.pkg.dev/$PROJECT/backstop/backstop:$(git rev-parse --short HEAD 2>/dev/null || echo latest)"
SCHEDULER_SA=${SCHEDULER_SA:-scheduler-invoker@$PROJECT.iam.gserviceaccount.com}
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1

run() {
  if [ "$DRY_RUN" = 1 ]; then printf '+ %q' "$1"; shift; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

run gcloud builds submit --project "$PROJECT" --tag "$IMAGE" .
sed "s#image: .*#image: $IMAGE#" deploy/service.yaml > "${TMPDIR:-/tmp}/backstop-service.yaml"
run gcloud run services replace "${TMPDIR:-/tmp}/backstop-service.yaml" --project "$PROJECT" --region "$REGION"
# No unauthenticated access: only the scheduler's and operators' identities may call it.
run gcloud run services remove-iam-policy-binding "$SERVICE" --project "$PROJECT" --region "$REGION" \
  --member=allUsers --role=roles/run.invoker --quiet || true
run gcloud run services add-iam-policy-binding "$SERVICE" --project "$PROJECT" --region "$REGION" \
  --member="serviceAccount:$SCHEDULER_SA" --role=roles/run.invoker

if [ "$DRY_RUN" = 1 ]; then
  URL="https://$SERVICE-PLACEHOLDER-uw.a.run.app"
else
  URL=$(gcloud run services describe "$SERVICE" --project "$PROJECT" --region "$REGION" --format='value(status.url)')
fi
# The OIDC audience is the bare service URL, not the /scrape endpoint.
# One job per schedule entry of the scraper definitions in scrapers/.
python3 - scrapers/*.json <<'PY' |
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    for j in d["schedule"]:
        body = json.dumps({"scraper": d["name"], "date": "TODAY", "market_type": j["market_type"], "group": "prod"})
        print("\t".join([j["job"], j["cron"], j["time_zone"], body]))
PY
while IFS=$'\t' read -r name schedule tz body; do
  [ -n "$name" ] || continue
  for verb in update create; do
    if run gcloud scheduler jobs "$verb" http "$name" --project "$PROJECT" --location "$REGION" \
        --schedule "$schedule" --time-zone "$tz" --uri "$URL/scrape" --http-method POST \
        --headers Content-Type=application/json --message-body "$body" \
        --oidc-service-account-email "$SCHEDULER_SA" --oidc-token-audience "$URL" \
        --attempt-deadline 300s --max-retry-attempts 2 2>/dev/null; then
      break
    fi
  done
done
