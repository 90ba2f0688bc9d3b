#!/usr/bin/env bash
# `docker compose up -d --wait` for crashloop-docker, with docker-compose v1 (which has no
# --wait): `up -d`, a probe container on the project's network, then poll once a second until
# the broken state is observed, which is what `breakfix start` waits for (its `broken-when`:
# web-stays-up and checkout-api-through-web both failing). Deadline 90 s, as the scenario's.
#
#   crashloop-docker-up.sh PROJECT      (in the folder holding compose.yaml)

. "$(dirname "$0")/common.sh" "$@"

WEB_PORT=${WEB_PORT:-8080}
t0=$(now)
timeout 120 docker-compose -p "$P" "${FILES[@]}" up -d --no-color 2>&1 | tail -n 3 >&2
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
echo "bench: up-d-us=$(($(now) - t0))" >&2
ensure_probe || exit 1
started=$(now)
while :; do
	web=$(CHECK=web-stays-up stays_running "$(c web)" 20 no)
	api=$(CHECK=checkout-api-through-web http_check web "$WEB_PORT" /api/orders 200 '"orders"[[:space:]]*:[[:space:]]*\[' 0)
	if [[ $web == fail* && $api == fail* ]]; then
		echo "broken state reached: $web; $api"
		exit 0
	fi
	if past 90 "$started"; then
		echo "not broken after 90 s: $web; $api" >&2
		exit 1
	fi
	sleep 1
done
