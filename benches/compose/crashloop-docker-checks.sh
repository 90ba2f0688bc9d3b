#!/usr/bin/env bash
# The checks of scenarios/crashloop-docker/scenario.yaml, scripted by hand against a
# docker-compose project of its workspace: `docker inspect` for restart counts, health and
# configuration over the same windows, curl from a probe container on the project's network
# for the HTTP checks (with the nonce and token of `served-by`, read back from the orders
# container's log), `docker exec` for `nginx -t`. Like `breakfix grade`, the checks that only
# observe run at the same time.
#
#   crashloop-docker-checks.sh PROJECT     (exit 0: all passed, 3: one failed)
#
# The variant's names and ports come from the environment; the defaults are seed classic-17's.
# Not scripted here (breakfix does it): whether the container's own programs were changed
# (breakfix's tamper guard behind the exec and healthy checks).

. "$(dirname "$0")/common.sh" "$@"

ORDERS_SERVICE=${ORDERS_SERVICE:-orders}
ORDERS_PORT=${ORDERS_PORT:-8000}
WEB_PORT=${WEB_PORT:-8080}
WEB=$(c web)

# container_config CONTAINER: healthcheck and restart policy kept; unprivileged, no added
# capabilities, a memory limit.
healthcheck_and_restart() {
	local j
	j=$(timeout 10 docker inspect "$1" 2>/dev/null) || { fail "no container $1"; return; }
	read -r hc policy <<<"$(jq -r '.[0] | [((.Config.Healthcheck.Test // []) as $t
		| if ($t | length) > 0 and $t[0] != "NONE" then "yes" else "no" end),
		(.HostConfig.RestartPolicy.Name // "" | if . == "" then "no" else . end)] | @tsv' <<<"$j")"
	case "$hc:$policy" in
	yes:always | yes:unless-stopped | yes:on-failure) pass "healthcheck kept, restart policy $policy" ;;
	*) fail "healthcheck: $hc, restart policy: $policy" ;;
	esac
}

hardening() {
	local j
	j=$(timeout 10 docker inspect "$1" 2>/dev/null) || { fail "no container $1"; return; }
	read -r user privileged caps memory <<<"$(jq -r '.[0] | [(.Config.User // "" | if . == "" then "root" else . end),
		.HostConfig.Privileged, ((.HostConfig.CapAdd // []) | length), .HostConfig.Memory] | @tsv' <<<"$j")"
	case ${user%%:*} in root | 0) fail "runs as $user"; return ;; esac
	[ "$privileged" = false ] || { fail "privileged"; return; }
	[ "$caps" = 0 ] || { fail "$caps capabilities added"; return; }
	[ "$memory" -gt 0 ] || { fail "no memory limit"; return; }
	pass "user $user, unprivileged, no capabilities added, memory limit $((memory >> 20)) MiB"
}

ensure_probe || { echo "error: cannot start the probe container" >&2; exit 6; }
trap remove_probe_if_created EXIT

check web-stays-up stays_running "$WEB" 20 no
ORDERS=$(c "$ORDERS_SERVICE")
check checkout-api-through-web served_by "$ORDERS" breakfix/crashloop-docker-orders web "$WEB_PORT" /api/orders '"orders"[[:space:]]*:[[:space:]]*\['
check web-reports-healthy stays_running "$WEB" 8 yes
check nginx-config-valid exec_check "$WEB" 0 'syntax is ok' nginx -t -e stderr
check keeps-healthcheck-and-restart-policy healthcheck_and_restart "$WEB"
check web-healthcheck-probes-web healthcheck_probes "$WEB" "$WEB_PORT" /healthz
check keeps-hardening hardening "$WEB"
check orders-still-serves served_by "$ORDERS" breakfix/crashloop-docker-orders "$ORDERS_SERVICE" "$ORDERS_PORT" /healthz ''
report
