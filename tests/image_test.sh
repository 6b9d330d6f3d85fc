#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/image_test.sh: prescal's own image (make image, FROM scratch) run as
# a container with the Docker socket mounted and --network host, scaling
# the demo backend from zero. The image runs as a numeric non-root user and
# reaches the socket only through --group-add of the socket's group. Needs
# a Docker daemon: without one it skips loudly, or fails when
# PRESCAL_REQUIRE_DOCKER=1.
set -u
cd "$(dirname "$0")/.."

pass=0 fail=0
set_name="pimg-$$"
ctr="prescal-image-test-$$"
nogrp="prescal-image-nogroup-$$"
sock=/var/run/docker.sock
# below the ephemeral range (32768+), where a client socket may hold the port
port=$(( 20000 + $$ % 12000 ))

ok()   { pass=$((pass + 1)); echo "ok: $*"; }
bad()  { fail=$((fail + 1)); echo "FAILED: $*"; }
cleanup() {
	docker rm -f "$ctr" "$nogrp" >/dev/null 2>&1
	ids=$(docker ps -aq --filter "label=prescal.name=$set_name")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

if ! docker version >/dev/null 2>&1; then
	if [ "${PRESCAL_REQUIRE_DOCKER:-0}" = 1 ]; then
		echo "FAILED: no Docker daemon reachable and PRESCAL_REQUIRE_DOCKER=1"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "*** SKIPPED: no Docker daemon reachable: image test not run ***"
	exit 0
fi

make -s image >/dev/null || { echo "FAILED: make image"; echo "0 passed, 1 failed"; exit 1; }
sh tests/mkimage.sh prescal-demo:latest >/dev/null || { echo "FAILED: demo image"; exit 1; }
# README: the static binary is under 230 KB (.ci/run checks it too)
bin=$(stat -c %s prescal-static)
[ "$bin" -lt 230000 ] && ok "static binary under 230 KB ($bin bytes)" ||
	bad "static binary is $bin bytes, README says under 230 KB"
size=$(docker image inspect prescal:latest --format '{{.Size}}')
echo "prescal image: $size bytes"
[ "$size" -lt 1000000 ] && ok "image under 1 MB ($size bytes)" || bad "image is $size bytes"

# not root: a numeric user, and without the socket's group Docker is closed
user=$(docker image inspect prescal:latest --format '{{.Config.User}}')
case "$user" in
0|0:*|root|root:*|"") bad "the image runs as '$user'" ;;
[0-9]*:[0-9]*) ok "the image runs as user $user" ;;
*) bad "the image's user '$user' is not numeric" ;;
esac
out=$(timeout 20 docker run --name "$nogrp" --network host -v "$sock:$sock" prescal:latest \
	-l "127.0.0.1:$((port + 1))" -a off -i prescal-demo:latest -p 8080 -m 0 \
	-n "$set_name" 2>&1)
code=$(docker inspect "$nogrp" --format '{{.State.ExitCode}}' 2>/dev/null)
docker rm -f "$nogrp" >/dev/null 2>&1
case "$code:$out" in
1:*"ermission denied"*) ok "without --group-add prescal cannot reach Docker (exit 1)" ;;
*) bad "without --group-add: exit '$code': $out" ;;
esac

docker run -d --name "$ctr" --network host --group-add "$(stat -c %g "$sock")" \
	-v "$sock:$sock" prescal:latest \
	-l "127.0.0.1:$port" -a off -i prescal-demo:latest -p 8080 -m 0 -M 2 \
	-n "$set_name" >/dev/null || bad "docker run"

# wait for the listener, then the first request starts an instance
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/healthz-none" 2>/dev/null || [ $i -ge 50 ]; do
	sleep 0.1; i=$((i + 1))
done
body=$(curl -s -m 30 "http://127.0.0.1:$port/name")
case "$body" in
"$set_name"-*) ok "scaled from zero in a container: answered by $body" ;;
*) bad "first request through the container got '$body'"; docker logs "$ctr" 2>&1 | tail -20 ;;
esac
n=$(docker ps -q --filter "label=prescal.name=$set_name" | wc -l)
[ "$n" -ge 1 ] && ok "$n instance(s) running" || bad "no instance running"

# SIGTERM (docker stop) drains and removes its containers
docker stop -t 30 "$ctr" >/dev/null
code=$(docker inspect "$ctr" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] && ok "prescal exited 0 on SIGTERM" || bad "exit code $code"
n=$(docker ps -aq --filter "label=prescal.name=$set_name" | wc -l)
[ "$n" -eq 0 ] && ok "no container of the set left" || bad "$n containers left"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
