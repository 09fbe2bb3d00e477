#!/usr/bin/env bash
# The real-control-plane suite: upstream etcd, kube-apiserver and
# kube-controller-manager on loopback, the chart installed with helm, the
# webhook as a host process, and every scenario asserted on what kubectl and
# the API server report. Builds whatever is missing first.
#
#   bash e2e/run.sh            every scenario
#   bash e2e/run.sh a,e,j      only these (m compares whatever ran, when anything did)
#
# Prints `e2e: N passed, M failed` last; exits non-zero on any failure. Logs of
# a run are kept in target/e2e-logs/ (no Secret values: the server never logs
# them and the audit log records metadata only). E2E_KEEP=1 keeps the run's
# directory (keys, kubeconfigs) for debugging.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
for f in pki cluster secretgate check setup; do source "$E2E_DIR/lib/$f.sh"; done
for f in "$E2E_DIR"/scenarios/*.sh; do source "$f"; done

ONLY=${1:-}
T_START=$SECONDS
prepare_tools
T_TOOLS=$((SECONDS - T_START))

RUN=$(mktemp -d "${TMPDIR:-/tmp}/secretgate-e2e.XXXXXX")
SCENARIO_PID=""
cleanup() {
  local rc=$?
  [ -z "$SCENARIO_PID" ] || kill -TERM "$SCENARIO_PID" 2>/dev/null || true
  stop_all
  # nothing of this run may outlive it: every process names $RUN in its arguments
  if pgrep -f "$RUN/" >/dev/null; then
    log "processes of this run still alive after teardown; killing them:"; pgrep -af "$RUN/" >&2
    pkill -KILL -f "$RUN/" || true
    rc=1
  fi
  rm -rf "$ROOT/target/e2e-logs" && mkdir -p "$ROOT/target/e2e-logs"
  cp -r "$RUN/logs/." "$ROOT/target/e2e-logs/" 2>/dev/null || true
  cp -r "$RUN/parity" "$ROOT/target/e2e-logs/" 2>/dev/null || true
  rm -f "$ROOT/target/e2e-logs/parity/"*.review.*
  if [ -n "${E2E_KEEP:-}" ]; then log "kept $RUN (E2E_KEEP is set; it holds keys: remove it)"; else rm -rf "$RUN"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted; tearing down"; exit 130' INT TERM

T_UP=$SECONDS
bring_up
log "cluster with secretgate up in $((SECONDS - T_UP)) s"

run_scenario() { # ID TITLE
  local id=$1 title=$2
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$id,"* ]]; then
    # m compares whatever ran; in a subset with no live decision to compare it is not run
    [ "$id" = m ] && [ -d "$RUN/parity" ] || return 0
  fi
  local out="$RUN/logs/scenario-$id.log" t0=$SECONDS rc
  CURRENT_SCENARIO=$id
  ( set -eo pipefail; "scenario_$id" ) >"$out" 2>&1 &
  SCENARIO_PID=$!
  wait "$SCENARIO_PID"; rc=$?
  SCENARIO_PID=""
  if [ "$rc" = 0 ]; then
    PASSED=$((PASSED + 1)); printf 'ok    %s. %s (%s s)\n' "$id" "$title" $((SECONDS - t0))
  else
    FAILED=$((FAILED + 1)); FAILED_IDS+=("$id")
    printf 'FAIL  %s. %s (%s s)\n' "$id" "$title" $((SECONDS - t0))
    grep -E '^FAILED CHECK' "$out" | sed 's/^/      /' || true
    tail -n 15 "$out" | sed 's/^/      | /'
  fi
}

scenario_m() { # the same decisions through `secretgate review` (records made by same_in_review)
  [ -d "$RUN/parity" ] || fail "no live decision was compared"
  local records; records=$(find "$RUN/parity" -type f ! -name '*.review.*' | sort)
  # shellcheck disable=SC2086
  cat $records >&2
  local total different
  # shellcheck disable=SC2086
  total=$(cat $records | wc -l); different=$(cat $records | grep -c '^DIFFERENT' || true)
  echo "$total decisions compared, $different different" >&2
  [ "$different" = 0 ] || fail "$(cat $records | grep '^DIFFERENT')"
}

T_SCEN=$SECONDS
run_scenario a "a Pod referencing a missing Secret is refused with [pod-secret-exists] and the field"
run_scenario b "a Secret and a Pod using it in one kubectl apply are admitted"
run_scenario c "enforce-mountable-secrets through a projected volume is refused"
run_scenario d "an ephemeral container with an unlisted envFrom Secret is refused"
run_scenario e "mutation: imagePullSecrets merged, Secrets mounted, token volume intact; reinvocation changes nothing"
run_scenario f "workloads warn; their ReplicaSet shows refused Pods; env-name Events on the ReplicaSet"
run_scenario g "a server-side dry run is denied alike and records no Event"
run_scenario h "a stricter policy through the chart's values is enforced"
run_scenario i "live view: a deleted Secret denies, with secretView keys and metadata"
run_scenario j "API server restart: /readyz says so, the view re-lists and sees what was created"
run_scenario p "helm test's probe, with the test hook's RBAC: dry runs denied or warned by secretgate"
run_scenario n "a release whose server never starts blocks nothing; ready, it enforces; uninstall --no-hooks leaves nothing"
run_scenario o "deleting the release namespace leaves nothing that refuses a write (server running, and stopped)"
run_scenario q "certificate files: the caBundle from --webhook-ca-file; 8 rotations during 200 dry runs, no failure"
run_scenario r "two replicas starting together on an empty CA Secret agree on one CA; both serve certificates the caBundle trusts; one audits, the other takes the Lease when it dies"
run_scenario l "the managed CA and serving certificate rotate during 75 s of server-side dry runs: no failure"
run_scenario s "the audit: problems planted before the install appear in the PolicyReport; a fix removes its result; metrics agree"
run_scenario t "per-namespace policy: a helm upgrade reaches the running server; relabelling dev to prod denies the next Pod; an exempted group is admitted and audited; a broken policy is refused"
run_scenario k "failurePolicy with secretgate stopped; nothing left after helm uninstall"
run_scenario m "the same decisions through secretgate review on a kubectl-exported snapshot"

log "timings: tools ${T_TOOLS} s, scenarios $((SECONDS - T_SCEN)) s, total $((SECONDS - T_START)) s"
[ "$FAILED" = 0 ] || log "failed: ${FAILED_IDS[*]} (logs in target/e2e-logs/)"
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
