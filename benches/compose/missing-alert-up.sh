#!/usr/bin/env bash
# `docker compose up -d --wait` for missing-alert, with docker-compose v1 (which has no
# --wait): `up -d`, a probe container on the project's network, the incident's fault injected
# as the scenario declares it (checkout's error ratio set to 0.5 through `docker exec`), then
# poll once a second until the broken state is observed, which is what `breakfix start` waits
# for (its `broken-when`: pages-on-failure failing, looked at without a drill: no alert is
# firing with a page recorded). Deadline 120 s, as the scenario's.
#
#   missing-alert-up.sh PROJECT      (in the folder holding compose.yaml)

. "$(dirname "$0")/common.sh" "$@"

t0=$(now)
timeout 120 docker-compose -p "$P" "${FILES[@]}" up -d --no-color 2>&1 | tail -n 3 >&2
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
echo "bench: up-d-us=$(($(now) - t0))" >&2
ensure_probe || exit 1
started=$(now)
# The fault; retried while checkout is still starting.
until timeout 60 docker exec "$(c checkout)" curl -fsS -X POST --data-raw 0.5 \
	http://localhost:8080/admin/error-ratio >/dev/null 2>&1; do
	if past 60 "$started"; then echo "could not inject the fault" >&2; exit 1; fi
	sleep 0.5
done
while :; do
	http GET prometheus 9090 /api/v1/alerts
	firing=$(jq -r '[.data.alerts[]? | select(.state == "firing")] | length' <<<"$HTTP_BODY" 2>/dev/null)
	if [ "$HTTP_STATUS" != 200 ] || [ "${firing:-0}" = 0 ]; then
		echo "broken state reached: no alert firing (Prometheus answered $HTTP_STATUS)"
		exit 0
	fi
	http GET oncall-webhook 9095 /notifications
	pages=$(jq -r '[.notifications[]? | select([.payload.alerts[]? | select(.status == "firing")] | length > 0)] | length' <<<"$HTTP_BODY" 2>/dev/null)
	if [ "${pages:-0}" = 0 ]; then
		echo "broken state reached: an alert fires but no page was recorded"
		exit 0
	fi
	if past 120 "$started"; then echo "not broken after 120 s" >&2; exit 1; fi
	sleep 1
done
