#!/usr/bin/env bash
# `breakfix stop` for a compose project: remove the probe container, then `docker-compose down
# -v --timeout 0` (containers killed and removed, network and volumes removed), which is what
# breakfix's teardown does (it force-removes containers, no stop grace period).
#
#   down.sh PROJECT      (in the folder holding compose.yaml)

. "$(dirname "$0")/common.sh" "$@"

timeout 60 docker rm -f "$PROBE" >/dev/null 2>&1
timeout 120 docker-compose -p "$P" "${FILES[@]}" down -v --timeout 0 --remove-orphans 2>&1 | tail -n 3 >&2
exit "${PIPESTATUS[0]}"
