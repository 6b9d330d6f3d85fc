#!/bin/sh
# See LICENSE file for copyright and license details.
# usage: tests/swarm.sh up|down
#
# up: makes this machine a one-node swarm for the Swarm tests (PRESCAL_SWARM=1).
#   The daemon must have DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 in its
#   environment, or every task first tries a registry (none is reachable):
#   a local dockerd without it is stopped and started again through
#   tests/dockerd.sh, which sets it. Then
#   `docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377`
#   (if not in a swarm yet) and the attachable overlay network
#   $PRESCAL_SWARM_NET (default prescal-overlay).
# down: removes that network, leaves the swarm (--force) and removes the
#   docker_gwbridge network the swarm left behind. Safe to run twice, or
#   after a failed up; .ci/run runs it from its EXIT trap.
set -eu

cd "$(dirname "$0")/.."
net=${PRESCAL_SWARM_NET:-prescal-overlay}

# offline: true if the local dockerd has the variable, or there is no
# local dockerd this script could see or restart
offline() {
	pid=$(pgrep -x dockerd | head -n 1 || true)
	[ -z "$pid" ] || [ ! -r "/proc/$pid/environ" ] ||
		tr '\0' '\n' < "/proc/$pid/environ" | grep -qx 'DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1'
}

up() {
	if ! offline; then
		pid=$(pgrep -x dockerd | head -n 1)
		echo "swarm.sh: dockerd $pid lacks DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: restarting it"
		kill -TERM "$pid"
		i=0
		while kill -0 "$pid" 2> /dev/null && [ "$i" -lt 60 ]; do
			sleep 0.5
			i=$((i + 1))
		done
		DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 sh tests/dockerd.sh
	fi
	state=$(docker info --format '{{.Swarm.LocalNodeState}}')
	if [ "$state" != active ]; then
		docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 > /dev/null
	fi
	if ! docker network inspect "$net" > /dev/null 2>&1; then
		docker network create -d overlay --attachable --label prescal.test=swarm "$net" \
			> /dev/null
	fi
	echo "swarm.sh: swarm $(docker info --format '{{.Swarm.LocalNodeState}}'), network $net"
}

down() {
	docker network rm "$net" > /dev/null 2>&1 || true
	if [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)" != inactive ]; then
		docker swarm leave --force > /dev/null 2>&1 || true
	fi
	docker network rm docker_gwbridge > /dev/null 2>&1 || true
	echo "swarm.sh: swarm $(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null || echo '?')"
}

case ${1:-} in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
