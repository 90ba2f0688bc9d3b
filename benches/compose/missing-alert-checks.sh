#!/usr/bin/env bash
# The checks of scenarios/missing-alert/scenario.yaml, scripted by hand against a
# docker-compose project of its workspace: curl from a probe container on the project's
# network, jq over Prometheus's and the webhook receiver's JSON. Like `breakfix grade`, the
# checks that only observe run at the same time, then the alert drill runs (it changes the
# sandbox) and gives both of its checks their verdict:
#   healthy phase: checkout's error ratio set to 0, wait (settle, 45 s) for a rule evaluation
#   on fresh data and for every alert to clear, then 4 s with nothing pending or firing;
#   fault phase: error ratio 0.5, an alert must fire within 30 s and the receiver must record
#   a firing notification within 15 s; the control is set back to what was found.
#
#   missing-alert-checks.sh PROJECT     (exit 0: all passed, 3: one failed)

. "$(dirname "$0")/common.sh" "$@"

SETTLE=45 QUIET=4 FIRE_WITHIN=30 NOTIFY_WITHIN=15

active_alerts() { # count of pending or firing alerts, or "error"
	http GET prometheus 9090 /api/v1/alerts
	[ "$HTTP_STATUS" = 200 ] || { echo error; return; }
	jq -r 'if .status == "success" then [.data.alerts[]? | select(.state == "pending" or .state == "firing")] | length else "error" end' <<<"$HTTP_BODY" 2>/dev/null || echo error
}

firing_alerts() {
	http GET prometheus 9090 /api/v1/alerts
	[ "$HTTP_STATUS" = 200 ] || { echo 0; return; }
	jq -r '[.data.alerts[]? | select(.state == "firing")] | length' <<<"$HTTP_BODY" 2>/dev/null || echo 0
}

# Whether every rule group was last evaluated at or after $1 (epoch seconds, decimal).
evaluated_since() {
	http GET prometheus 9090 /api/v1/rules
	[ "$HTTP_STATUS" = 200 ] || return 1
	[ "$(jq -r --argjson since "$1" '[.data.groups[]? | .lastEvaluation
		| capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$")
		| (.s + "Z" | fromdateiso8601) + ("0." + (.f // "0") | tonumber)]
		| length > 0 and all(. >= $since)' <<<"$HTTP_BODY" 2>/dev/null)" = true ]
}

# The highest notification number the receiver recorded, with a firing alert after $1 if given.
notifications() {
	http GET oncall-webhook 9095 /notifications
	[ "$HTTP_STATUS" = 200 ] || { echo error; return; }
	jq -r --argjson after "${1:-0}" '[.notifications[]? | select(.seq > $after)
		| select([.payload.alerts[]? | select(.status == "firing")] | length > 0) | .seq] | max // 0' <<<"$HTTP_BODY" 2>/dev/null || echo error
}

set_control() {
	http POST checkout 8080 /admin/error-ratio "$1"
	[ "$HTTP_STATUS" = 200 ]
}

# Sets QUIET_RESULT and FIRES_RESULT.
phases() {
	local started since n before seq
	set_control 0 || { QUIET_RESULT="error: could not drive the control"; FIRES_RESULT=$QUIET_RESULT; return; }
	started=$(now)
	since=$(awk -v t="$EPOCHREALTIME" 'BEGIN { printf "%.6f", t + 2 }')
	until evaluated_since "$since" || past "$SETTLE" "$started"; do sleep 1; done
	while :; do
		n=$(active_alerts)
		[ "$n" = 0 ] && break
		if past "$SETTLE" "$started"; then
			QUIET_RESULT="fail: alerts still active (${n}) ${SETTLE}s after checkout became healthy"
			FIRES_RESULT="fail: not tried: an alert was already active while checkout was healthy"
			return
		fi
		sleep 1
	done
	started=$(now)
	while ! past "$QUIET" "$started"; do
		sleep 1
		n=$(active_alerts)
		if [ "$n" != 0 ] && [ "$n" != error ]; then
			QUIET_RESULT="fail: $n alert(s) became active while checkout was healthy"
			FIRES_RESULT="fail: not tried: an alert fires while checkout is healthy"
			return
		fi
	done
	QUIET_RESULT="pass: every alert cleared and stayed quiet for ${QUIET}s"
	before=$(notifications)
	if [ "$before" = error ]; then FIRES_RESULT="fail: the receiver did not answer"; return; fi
	set_control 0.5 || { FIRES_RESULT="error: could not drive the control"; return; }
	started=$(now)
	until [ "$(firing_alerts)" != 0 ]; do
		if past "$FIRE_WITHIN" "$started"; then
			FIRES_RESULT="fail: no alert fired within ${FIRE_WITHIN}s of checkout failing"; return
		fi
		sleep 1
	done
	started=$(now)
	while :; do
		seq=$(notifications "$before")
		if [ "$seq" != error ] && [ "$seq" != 0 ]; then
			FIRES_RESULT="pass: an alert fired and the receiver recorded notification $seq"; return
		fi
		if past "$NOTIFY_WITHIN" "$started"; then
			FIRES_RESULT="fail: an alert fired but no page was recorded within ${NOTIFY_WITHIN}s"; return
		fi
		sleep 1
	done
}

drill() {
	local found
	http GET checkout 8080 /admin/error-ratio
	if [ "$HTTP_STATUS" != 200 ]; then
		echo "fail pages-on-failure: the control of checkout did not answer ($HTTP_STATUS)"
		echo "fail quiet-when-healthy: the control of checkout did not answer ($HTTP_STATUS)"
		return
	fi
	found=$(echo $HTTP_BODY)
	phases
	set_control "$found" || echo "note: could not set the control back to $found" >&2
	echo "${FIRES_RESULT%%:*} pages-on-failure:${FIRES_RESULT#*:}"
	echo "${QUIET_RESULT%%:*} quiet-when-healthy:${QUIET_RESULT#*:}"
}

ensure_probe || { echo "error: cannot start the probe container" >&2; exit 6; }
trap remove_probe_if_created EXIT

check prometheus-scrapes-checkout http_check prometheus 9090 /api/v1/targets 200 '"scrapePool":"checkout"[^{}]*"health":"up"' 20
check alertmanager-ready http_check alertmanager 9093 /-/ready 200 '' 20
check checkout-still-serves served_by "$(c checkout)" breakfix/missing-alert-checkout checkout 8080 /healthz ''
check pager-is-the-receiver served_by "$(c oncall-webhook)" breakfix/missing-alert-receiver oncall-webhook 9095 /notifications '"notifications"[[:space:]]*:[[:space:]]*\['
wait
drill >"$RESULTS/000"
report
