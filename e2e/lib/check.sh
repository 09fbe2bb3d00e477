# Assertions and the scenario runner. A scenario is a function run in its own
# subshell with errexit; any failed check ends it with a message naming what
# was expected and what kubectl or the API server said.

PASSED=0
FAILED=0
FAILED_IDS=()

fail() { printf 'FAILED CHECK: %s\n' "$*" >&2; exit 1; }

# kubectl_run ARGS...: run kubectl as admin; stdout, stderr and the exit status
# land in $RUN/out, $RUN/err and $RUN/rc. Never fails by itself.
kubectl_run() {
  local rc=0
  printf '$ kubectl %s\n' "$*" >&2
  kc "$@" >"$RUN/out" 2>"$RUN/err" || rc=$?
  echo "$rc" > "$RUN/rc"
  sed 's/^/  | /' "$RUN/err" >&2
  return 0
}

# expect_refused PATTERN... -- ARGS...: kubectl fails and its stderr holds every PATTERN (fixed strings).
expect_refused() {
  local patterns=() p
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done; shift
  kubectl_run "$@"
  [ "$(cat "$RUN/rc")" != 0 ] || fail "expected kubectl $* to be refused; it succeeded: $(cat "$RUN/out")"
  for p in "${patterns[@]}"; do
    grep -qF -- "$p" "$RUN/err" || fail "expected '$p' in kubectl's stderr: $(cat "$RUN/err")"
  done
}

# expect_admitted [PATTERN...] -- ARGS...: kubectl succeeds and its stderr holds every PATTERN.
expect_admitted() {
  local patterns=() p
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done; shift
  kubectl_run "$@"
  [ "$(cat "$RUN/rc")" = 0 ] || fail "expected kubectl $* to succeed; it failed: $(cat "$RUN/err")"
  for p in "${patterns[@]}"; do
    grep -qF -- "$p" "$RUN/err" || fail "expected '$p' in kubectl's stderr: $(cat "$RUN/err")"
  done
}

# eventually TIMEOUT DESCRIPTION CMD...: poll CMD for up to TIMEOUT seconds.
eventually() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not seen within $timeout s"
    sleep 0.5
  done
}

# json_true FILE PYTHON-EXPRESSION: whether the expression holds; `o` is the
# parsed JSON document of FILE.
json_true() {
  python3 - "$1" "$2" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2].strip()) else 1)
PY
}

# json_check FILE PYTHON-EXPRESSION DESCRIPTION: json_true, or fail with DESCRIPTION.
json_check() { json_true "$1" "$2" || fail "$3: $(head -c 2000 "$1")"; }

# --- (m) the same objects through `secretgate review` ------------------------

# same_in_review REQUEST [review flags...]: right after a live decision (in
# $RUN/rc and $RUN/err), answer REQUEST (a manifest or an AdmissionReview) with
# `secretgate review`, the cluster as `kubectl get -o yaml` exports it now, and
# the policy the server runs. Records whether the decision, the denial message
# and every warning are the same (--decision-only: whether both refuse, for a
# request that an in-tree plugin refuses before any webhook); scenario (m)
# reports the records.
same_in_review() {
  local request=$1; shift
  local decision_only=""
  if [ "${1:-}" = --decision-only ]; then decision_only=1; shift; fi
  mkdir -p "$RUN/parity" "$RUN/snapshots"
  local n; n=$(find "$RUN/parity" -type f ! -name '*.review.*' | wc -l)
  local rec; rec="$RUN/parity/$(printf '%03d' "$n")-$CURRENT_SCENARIO"
  local snap="$RUN/snapshots/$(basename "$rec").yaml"
  kc get namespaces,serviceaccounts,secrets -A -o yaml > "$snap"
  local rc=0
  "$SECRETGATE" review --cluster "$snap" --config "$RUN/policy-secretgate.yaml" "$@" "$request" >"$rec.review.json" 2>"$rec.review.err" || rc=$?
  rm -f "$snap"   # it holds Secret values; nothing keeps them
  python3 "$E2E_DIR/lib/parity.py" "$(cat "$RUN/rc")" "$RUN/err" "$rc" "$rec.review.json" "$request" \
    ${decision_only:+--decision-only} > "$rec"
}
