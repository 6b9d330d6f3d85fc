#!/bin/sh
# See LICENSE file for copyright and license details.
# usage: tests/dockerd.sh
#
# Makes sure a Docker daemon answers on $DOCKER_HOST (a unix:// socket) or
# /var/run/docker.sock. If GET /_ping already answers, does nothing.
# Otherwise starts dockerd in its own session (it outlives this script;
# log in $DOCKERD_LOG, default /tmp/dockerd.log, extra flags in
# $DOCKERD_FLAGS) and waits up to $DOCKERD_WAIT seconds (default 60) for it.
# The daemon it starts has DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 (unless the
# caller set it otherwise), so Swarm services use local images and never try
# a registry; every restart through this script (chaos_test) keeps it.
# Exits non-zero with the tail of the log if it does not come up.
set -eu

log=${DOCKERD_LOG:-/tmp/dockerd.log}
wait=${DOCKERD_WAIT:-60}
sock=/var/run/docker.sock
hostflag=
case ${DOCKER_HOST:-} in
"") ;;
unix://*)
	sock=${DOCKER_HOST#unix://}
	hostflag="-H unix://$sock"
	;;
*)
	sock=   # tcp:// and the like: only the docker CLI can tell
	;;
esac

# ping: true if the daemon answers GET /_ping
ping() {
	if [ -n "$sock" ] && command -v curl > /dev/null 2>&1; then
		[ "$(curl -s --max-time 2 --unix-socket "$sock" http://docker/_ping 2> /dev/null)" = OK ]
	else
		timeout 5 docker version > /dev/null 2>&1
	fi
}

if ping; then
	echo "dockerd.sh: docker answers on ${sock:-$DOCKER_HOST}"
	exit 0
fi
if [ -z "$sock" ]; then
	echo "dockerd.sh: $DOCKER_HOST does not answer; can only start a local dockerd" >&2
	exit 1
fi
if ! command -v dockerd > /dev/null 2>&1; then
	echo "dockerd.sh: docker does not answer on $sock and there is no dockerd" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "dockerd.sh: docker does not answer on $sock; dockerd needs root" >&2
	exit 1
fi

# start: own session, stdin closed, so it survives this script and its shell
echo "== dockerd.sh: starting dockerd $hostflag ${DOCKERD_FLAGS:-} at $(date)" >> "$log"
# shellcheck disable=SC2086  # the flags are meant to split
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=${DOCKER_SERVICE_PREFER_OFFLINE_IMAGE:-1} \
	setsid nohup dockerd $hostflag ${DOCKERD_FLAGS:-} < /dev/null >> "$log" 2>&1 &
pid=$!
echo "dockerd.sh: started dockerd (pid $pid), log in $log"

# wait for /_ping, giving up early if dockerd exits
i=0
while [ "$i" -lt $((wait * 2)) ]; do
	if ping; then
		echo "dockerd.sh: docker answers on $sock after $((i / 2)) s"
		exit 0
	fi
	if ! kill -0 "$pid" 2> /dev/null; then
		echo "dockerd.sh: dockerd exited; the end of $log:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
	sleep 0.5
	i=$((i + 1))
done
echo "dockerd.sh: docker did not answer on $sock within $wait s; the end of $log:" >&2
tail -n 30 "$log" >&2
exit 1
