#!/usr/bin/env bash
# Stop what e2e/up.sh left running and remove its state (keys included).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
RUN=$ROOT/.tools/e2e/up
[ -d "$RUN" ] || { log "nothing to stop: $RUN does not exist"; exit 0; }
stop_all
if pgrep -f "$RUN/" >/dev/null; then
  log "still running after teardown, killing:"; pgrep -af "$RUN/" >&2; pkill -KILL -f "$RUN/" || true
fi
rm -rf "$RUN"
log "stopped; $RUN removed"
