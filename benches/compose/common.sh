# Helpers for the docker-compose side of the benchmark: what a team scripts by hand around
# `docker-compose` (v1, which has no `up --wait`) to bring a stack up and check it.
#
# Sourced with the compose project name as $1. Containers are compose v1's `<project>_<service>_1`
# on the network `<project>_default`. HTTP checks run curl in a probe container on that network
# (`breakfix/probe`, curl as nobody), outside the services, as breakfix's own checks do.
# Every command has a deadline.

set -u

P=${1:?usage: $0 PROJECT}
NET="${P}_default"
PROBE="${P}-probe"
PROBE_CREATED=no

# The compose files: compose.yaml, and the benchmark's override with breakfix's sandbox
# settings when the folder holds one.
FILES=(-f compose.yaml)
if [ -f sandbox.override.yaml ]; then FILES+=(-f sandbox.override.yaml); fi

# The container of a compose service.
c() { echo "${P}_${1}_1"; }

# Microseconds since the epoch (bash 5).
now() { echo "${EPOCHREALTIME/./}"; }

# Whether $1 whole seconds have passed since $2 (a `now`).
past() { (($(now) - $2 >= $1 * 1000000)); }

# A probe container on the project's network, reused when it is already running. It gets the
# DNS options breakfix gives its own probe (a one-label name that does not resolve fails at once).
ensure_probe() {
	if [ "$(docker inspect -f '{{.State.Running}}' "$PROBE" 2>/dev/null)" = true ]; then
		return 0
	fi
	docker rm -f "$PROBE" >/dev/null 2>&1
	timeout 60 docker run -d --name "$PROBE" --network "$NET" \
		--label "bfbench.project=$P" --read-only --tmpfs /tmp --user 65534:65534 \
		--dns-option timeout:1 --dns-option attempts:1 --dns-option ndots:1 \
		breakfix/probe:latest sleep infinity >/dev/null || return 1
	PROBE_CREATED=yes
}

# HTTP request from the probe: sets HTTP_STATUS (000 when nothing answered) and HTTP_BODY.
# http METHOD SERVICE PORT PATH [BODY]
http() {
	local method=$1 url="http://$2:$3$4" out
	if [ $# -ge 5 ]; then
		out=$(timeout 10 docker exec "$PROBE" curl -sS -X "$method" --max-time 3 \
			-H 'Content-Type: text/plain' --data-raw "$5" -w '\n%{http_code}' "$url" 2>&1)
	else
		out=$(timeout 10 docker exec "$PROBE" curl -sS -X "$method" --max-time 3 \
			-w '\n%{http_code}' "$url" 2>&1)
	fi
	HTTP_STATUS=${out##*$'\n'}
	HTTP_BODY=${out%$'\n'*}
	case $HTTP_STATUS in [0-9][0-9][0-9]) ;; *) HTTP_STATUS=000 ;; esac
}

# "running restarting restart-count health" of a container, or "missing".
state() {
	timeout 10 docker inspect -f \
		'{{.State.Running}} {{.State.Restarting}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
		"$1" 2>/dev/null || echo missing
}

# Results: one line per check, "pass|fail <id>: <what was seen>".
pass() { echo "pass $CHECK: $*"; }
fail() { echo "fail $CHECK: $*"; }

# stays_running CONTAINER WINDOW_SECS REQUIRE_HEALTHY(yes|no)
# Up for the window with its restart count steady (polled every 0.5 s); fails as soon as it
# is not running or restarts. With yes, it must also be healthy at the end.
stays_running() {
	local name=$1 window=$2 healthy=$3 run restarting first count health started
	read -r run restarting first health <<<"$(state "$name")"
	count=$first
	started=$(now)
	while :; do
		if [ "$run" = missing ]; then fail "no container $name"; return; fi
		if [ "$run" != true ] || [ "$restarting" = true ]; then
			fail "$name is not running (restarting=$restarting, restart count $count)"; return
		fi
		if [ "$healthy" = yes ] && [ "$health" = unhealthy ]; then
			fail "$name is running but unhealthy"; return
		fi
		if [ "$count" -gt "$first" ]; then
			fail "$name restarted during the window (restart count $first -> $count)"; return
		fi
		if past "$window" "$started"; then break; fi
		sleep 0.5
		read -r run restarting count health <<<"$(state "$name")"
	done
	if [ "$healthy" = yes ] && [ "$health" != healthy ]; then
		fail "$name stayed up for ${window}s but its health is $health"; return
	fi
	pass "$name stayed running for ${window}s, restart count steady at $first"
}

# http_check SERVICE PORT PATH EXPECT_STATUS BODY_REGEX(ERE, may be empty) RETRY_FOR_SECS
# Retried every 0.5 s until it matches or RETRY_FOR has passed (0: once).
http_check() {
	local started
	started=$(now)
	while :; do
		http GET "$1" "$2" "$3"
		if [ "$HTTP_STATUS" = "$4" ] && { [ -z "$5" ] || printf '%s' "$HTTP_BODY" | grep -Ezq -- "$5"; }; then
			pass "GET http://$1:$2$3 -> $HTTP_STATUS"; return
		fi
		if past "$6" "$started"; then
			fail "GET http://$1:$2$3 -> $HTTP_STATUS, expected $4${5:+ with a body matching $5}"; return
		fi
		sleep 0.5
	done
}

# served_by UPSTREAM_CONTAINER IMAGE_REPO SERVICE PORT PATH BODY_REGEX(ERE, may be empty) [REQUESTS]
# The upstream runs an image tagged IMAGE_REPO:... with the image's own program; then
# REQUESTS answers in a row (3 by default; the first retried for 5 s) each carry, in
# X-Breakfix-Proof, the token the upstream logged beside the request's X-Breakfix-Nonce.
served_by() {
	local up=$1 repo=$2 url="http://$3:$4$5" re=$6 n=${7:-3} j img i nonce out token started
	j=$(timeout 10 docker inspect "$up" 2>/dev/null) || { fail "no container $up"; return; }
	img=$(timeout 10 docker image inspect "$(jq -r '.[0].Image' <<<"$j")" 2>/dev/null) ||
		{ fail "cannot inspect the image of $up"; return; }
	jq -e --arg repo "$repo:" '.[0].RepoTags // [] | any(startswith($repo))' <<<"$img" >/dev/null ||
		{ fail "$up does not run $repo"; return; }
	local program='.[0].Config | (.Entrypoint // []) + (.Cmd // [])'
	[ "$(jq -c "$program" <<<"$j")" = "$(jq -c "$program" <<<"$img")" ] ||
		{ fail "$up does not run its image's program"; return; }
	started=$(now)
	for i in $(seq "$n"); do
		while :; do
			nonce=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
			out=$(timeout 10 docker exec "$PROBE" curl -sS --max-time 3 -D - \
				-H "X-Breakfix-Nonce: $nonce" "$url" 2>&1 | tr -d '\r')
			if grep -q '^HTTP/[0-9.]* 200' <<<"$out" && { [ -z "$re" ] || grep -Eq -- "$re" <<<"$out"; }; then
				break
			fi
			if [ "$i" -gt 1 ] || past 5 "$started"; then fail "GET $url: answer $i is not a good one"; return; fi
			sleep 0.5
		done
		token=$(sed -n 's/^[Xx]-[Bb]reakfix-[Pp]roof: *//p' <<<"$out" | head -1)
		[ -n "$token" ] || { fail "GET $url: answer $i carries no proof"; return; }
		for _ in 1 2 3 4 5 6; do
			timeout 10 docker logs --tail 2000 "$up" 2>&1 |
				grep -qxF "breakfix-proof nonce=$nonce token=$token" && continue 2
			sleep 0.5
		done
		fail "GET $url: $up did not log the token of answer $i"; return
	done
	pass "GET $url: $n answers proven to come from $up"
}

# healthcheck_probes CONTAINER PORT PATH: the healthcheck is not a constant, swallows no
# failure, and names the port and the path.
healthcheck_probes() {
	local test
	test=$(timeout 10 docker inspect "$1" 2>/dev/null |
		jq -r '.[0].Config.Healthcheck.Test // [] | if (.[0] // "NONE") == "NONE" then "" else .[1:] | join(" ") end') ||
		{ fail "no container $1"; return; }
	[ -n "$test" ] || { fail "no healthcheck"; return; }
	if grep -Eqx '[[:space:]]*((/usr)?(/bin/)?true|:|exit( 0)?|echo.*|printf.*|sleep.*)[[:space:]]*' <<<"$test"; then
		fail "healthcheck '$test' is a constant"; return
	fi
	if grep -Eq '\|\|[[:space:]]*(true|:|exit[[:space:]]+0|echo|printf)\b|;[[:space:]]*(true|:|exit[[:space:]]+0)[[:space:]]*$' <<<"$test"; then
		fail "healthcheck '$test' swallows its failure"; return
	fi
	grep -Eq "(^|[^0-9])$2([^0-9]|\$)" <<<"$test" || { fail "healthcheck '$test' does not probe port $2"; return; }
	grep -Eq -- "$3([^A-Za-z0-9_.-]|\$)" <<<"$test" || { fail "healthcheck '$test' does not probe $3"; return; }
	pass "healthcheck '$test' probes port $2 and $3"
}

# exec_check CONTAINER EXPECT_EXIT OUTPUT_REGEX COMMAND...
exec_check() {
	local name=$1 want=$2 re=$3 out code
	shift 3
	read -r run restarting _ _ <<<"$(state "$name")"
	if [ "$run" != true ] || [ "$restarting" = true ]; then
		fail "cannot run '$*': $name is not running"; return
	fi
	out=$(timeout 10 docker exec "$name" "$@" 2>&1)
	code=$?
	if [ "$code" != "$want" ]; then fail "'$*' exited $code, expected $want"; return; fi
	if [ -n "$re" ] && ! printf '%s' "$out" | grep -Ezq -- "$re"; then
		fail "'$*' output does not match $re"; return
	fi
	pass "'$*' exited $code"
}

# Runs the function $2... as check $1 in the background, its result in $RESULTS/<n>.
RESULTS=
N=0
check() {
	[ -n "$RESULTS" ] || RESULTS=$(mktemp -d)
	N=$((N + 1))
	(CHECK=$1; shift; "$@") >"$RESULTS/$(printf %03d $N)" &
}

# Waits for the checks, prints them in order; exit 0 when all passed, 3 when one failed.
report() {
	wait
	local failed=0
	for f in "$RESULTS"/*; do
		cat "$f"
		grep -qv '^pass ' "$f" && failed=1
	done
	rm -rf "$RESULTS"
	return $((failed * 3))
}

remove_probe_if_created() {
	if [ "$PROBE_CREATED" = yes ]; then docker rm -f "$PROBE" >/dev/null 2>&1; fi
}
