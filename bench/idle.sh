#!/bin/sh
# See LICENSE file for copyright and license details.
# usage: sh bench/idle.sh          (make bench-idle; run from anywhere)
#
# What 100 apps scaled to zero cost when nothing happens: one prescal with
# 100 app blocks (image prescal-test-backend:latest, min 0, pull never, one
# host name each), started and left alone. Measured from /proc/PID/stat:
# utime+stime over IDLE_SECONDS, as a share of one core, which must stay
# under 0.5% (exit 1 otherwise); VmRSS at start. Then one request wakes
# the last app (its cold start is timed), wrk loads it for 5 s, and VmRSS
# is read again. Prints markdown and writes bench/idle-results.md.
#
# environment:
#   IDLE_SECONDS  the idle window, s (default 60)
#   IDLE_APPS     apps (default 100)
#   IDLE_PREFIX   app names, prefix-NNN (default idle<pid>); containers are
#                 labelled prescal.name=<app> and removed on exit
#   IDLE_BIN      the prescal to measure (default ./prescal), for an A/B
#   DOCKER_HOST   unix:// socket of the daemon (default /var/run/docker.sock)
#
# Needs a Docker daemon, curl and wrk; builds the image with
# tests/mkimage.sh if it is missing. Nothing starts until the request:
# with min 0 and no demand, prescal creates no container.

set -u

cd "$(dirname "$0")/.." || exit 1

secs=${IDLE_SECONDS:-60}
napps=${IDLE_APPS:-100}
prefix=${IDLE_PREFIX:-idle$$}
bin=${IDLE_BIN:-./prescal}
image='prescal-test-backend:latest'
out=bench/idle-results.md
bound=0.5
case $secs$napps in
*[!0-9]*) echo "idle: IDLE_SECONDS and IDLE_APPS are whole numbers" >&2; exit 2 ;;
esac
[ "$napps" -ge 1 ] && [ "$napps" -le 999 ] || { echo "idle: IDLE_APPS: 1..999" >&2; exit 2; }
for t in curl wrk ss; do
	command -v "$t" > /dev/null 2>&1 || { echo "idle: missing $t" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "idle: no $bin; run make prescal first" >&2; exit 1; }
sock=/var/run/docker.sock
case ${DOCKER_HOST:-} in
unix://*) sock=${DOCKER_HOST#unix://} ;;
esac
if [ "$(curl -s --max-time 2 --unix-socket "$sock" http://docker/_ping)" != OK ]; then
	echo "idle: no Docker daemon answers on $sock" >&2
	exit 1
fi
if ! curl -sf --unix-socket "$sock" "http://docker/v1.41/images/$image/json" > /dev/null &&
    ! sh tests/mkimage.sh >&2; then
	echo "idle: image $image missing and tests/mkimage.sh failed" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/prescal-idle.XXXXXX") || exit 1
pid=
cleanup() {
	trap - EXIT INT TERM
	# SIGTERM: prescal removes its containers before it exits
	if [ -n "$pid" ]; then
		kill "$pid" 2> /dev/null
		n=0
		while kill -0 "$pid" 2> /dev/null && [ $n -lt 300 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		kill -9 "$pid" 2> /dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# helpers
port=$((21000 + $$ % 500 * 8))
while ss -Htan "sport = :$port" 2> /dev/null | grep -q .; do
	port=$((port + 1))
done
# ticks: utime+stime of prescal (fields 14 and 15 of /proc/PID/stat)
ticks() {
	read -r l < "/proc/$pid/stat"
	set -- ${l##*) }
	echo $((${12} + ${13}))
}
rss() {
	awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}
host() {
	printf 'app%03d.idle.test' "$1"
}

# the config: every app scaled, at zero, each with its own host name
{
	echo "listen 127.0.0.1:$port"
	echo 'admin ""'
	echo "access_log 0"
	echo "image $image"
	echo "port 8080"
	echo "min 0"
	echo "pull never"
	echo "socket $sock"
	i=1
	while [ $i -le "$napps" ]; do
		printf 'app %s-%03d\n\thost %s\n' "$prefix" $i "$(host $i)"
		i=$((i + 1))
	done
} > "$tmp/idle.conf"

"$bin" -f "$tmp/idle.conf" > "$tmp/prescal.log" 2>&1 &
pid=$!
n=0
until ss -Htln "sport = :$port" 2> /dev/null | grep -q .; do
	kill -0 "$pid" 2> /dev/null && [ $n -lt 300 ] || {
		echo "idle: prescal did not come up:" >&2
		tail -n 5 "$tmp/prescal.log" >&2
		exit 1
	}
	sleep 0.1
	n=$((n + 1))
done
sleep 5  # workers up, adoption done
hz=$(getconf CLK_TCK)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rss0=$(rss)
echo "idle: $napps apps at zero, measuring ${secs}s" >&2
t0=$(ticks)
sleep "$secs"
t1=$(ticks)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(grep -c 'scale up' "$tmp/prescal.log")
pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.3f", d / hz / s * 100 }')
ok=$(awk -v p="$pct" -v b="$bound" 'BEGIN { print (p < b) ? "yes" : "no" }')

# wake the last app, then load it
last=$(host "$napps")
w=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -H "Host: $last" \
	"http://127.0.0.1:$port/")
wrk -t2 -c16 -d5s -H "Host: $last" "http://127.0.0.1:$port/" > "$tmp/wrk.out" 2>&1
rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/wrk.out")
rss1=$(rss)
workers=$(sed -n 's/.*listening on [^,]*, \([0-9]*\) workers.*/\1/p' "$tmp/prescal.log")

{
	echo "# prescal: $napps apps at zero"
	echo
	echo "- machine: $(nproc) CPUs, $(uname -srm); $("$bin" -v) ($bin)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M'); load average $load0 before, $load1 after"
	echo "- $napps app blocks, image $image, min 0, pull never, one host each;" \
		"$workers workers (auto)"
	echo
	echo "| idle window | CPU ticks (utime+stime) | share of one core | bound | within | instances started while idle |"
	echo "|--:|--:|--:|--:|--:|--:|"
	echo "| ${secs} s | $((t1 - t0)) at $hz Hz | $pct% | < $bound% | $ok | $started |"
	echo
	echo "| RSS at start | then: first request to the last app (status, s) | wrk -c16 5 s to it, req/s | RSS after |"
	echo "|--:|--:|--:|--:|"
	echo "| $rss0 MiB | $w | ${rps:--} | $rss1 MiB |"
} > "$tmp/out.md"
cp "$tmp/out.md" "$out"
cat "$out"
[ "$ok" = yes ] && [ "$started" -eq 0 ]
