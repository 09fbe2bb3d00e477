"""Compare a live decision (kubectl's exit status and stderr) with the answer
of `secretgate review` for the same object. Prints one line: `same: ...` or
`DIFFERENT: ...`. Used by e2e/lib/check.sh (scenario m)."""
import json
import sys

live_rc, live_err_file, review_rc, review_file, request = sys.argv[1:6]
decision_only = "--decision-only" in sys.argv[6:]
live_err = open(live_err_file).read()
try:
    answer = json.load(open(review_file))["response"]
except Exception as error:  # noqa: BLE001 - any unreadable answer is a difference
    print(f"DIFFERENT: {request}: review printed no AdmissionReview ({error}), exit {review_rc}")
    sys.exit(0)

problems = []
live_allowed = live_rc == "0"
if live_allowed != answer["allowed"] or review_rc not in ("0", "1"):
    problems.append(f"live {'allowed' if live_allowed else 'refused'}, review exit {review_rc} allowed={answer['allowed']}")
if not answer["allowed"] and not decision_only:
    message = answer.get("status", {}).get("message", "")
    if message not in live_err:
        problems.append(f"review's denial message is not what kubectl printed: {message!r}")
for warning in [] if decision_only else answer.get("warnings", []):
    if f"Warning: {warning}" not in live_err:
        problems.append(f"review's warning not printed by kubectl: {warning!r}")
verdict = ("allowed" if answer["allowed"] else "denied") + (" (decision only)" if decision_only else "")
if problems:
    print(f"DIFFERENT: {request}: " + "; ".join(problems))
else:
    print(f"same: {request}: {verdict}, {len(answer.get('warnings', []))} warnings")
