#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/soak.sh (make soak): SOAK_SECONDS (default 600) of mixed load on a
# scaling prescal: busy and quiet minutes alternate, so it scales up and
# down; every minute it prints prescal's RSS and fd count, and at the end
# the error count. It fails on any error, and unless RSS and fds stay flat:
# after the first minute (buffers touched, instances started) no sample may
# exceed that minute's by more than SOAK_RSS_SLACK KiB (default 1024) or
# SOAK_FD_SLACK fds (default 16: a cached backend connection or two per
# instance, which come and go with the scaling). SOAK_SECONDS: run time
# (default 600); PRESCAL_BIN: the binary (default ./prescal). Needs wrk and
# a Docker daemon.
set -u
cd "$(dirname "$0")/.."
secs=${SOAK_SECONDS:-600}
rss_slack=${SOAK_RSS_SLACK:-1024}
fd_slack=${SOAK_FD_SLACK:-16}
command -v wrk >/dev/null || { echo "soak: wrk missing (apt-get install wrk)"; exit 1; }
docker version >/dev/null 2>&1 || { echo "soak: no Docker daemon"; exit 1; }
sh tests/mkimage.sh prescal-test-backend:latest >/dev/null || exit 1
dir=$(mktemp -d)
set_name="soak-$$"
port=$(( 20000 + $$ % 6000 ))
cat >"$dir/conf" <<EOC
pull never
scale_down_delay 5000
idle_timeout 20000
EOC
"${PRESCAL_BIN:-./prescal}" -q -a off -l "127.0.0.1:$port" -i prescal-test-backend:latest -p 8080 \
	-m 0 -M 4 -c 8 -n "$set_name" -f "$dir/conf" >"$dir/log" 2>&1 & pid=$!
cleanup() {
	kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	ids=$(docker ps -aq --filter "label=prescal.name=$set_name")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
sleep 1
errors=0 total=0 t=0 minute=0 rss_ref=0 fd_ref=0 grew=0
sample() {
	rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
	fds=$(ls /proc/$pid/fd | wc -l)
	n=$(docker ps -q --filter "label=prescal.name=$set_name" | wc -l)
	echo "soak: minute $minute: RSS ${rss} KiB, fds $fds, containers $n, requests $total, errors $errors"
	if [ "$minute" -eq 1 ]; then
		rss_ref=$rss fd_ref=$fds
	elif [ "$minute" -gt 1 ]; then
		if [ "$rss" -gt $((rss_ref + rss_slack)) ] || [ "$fds" -gt $((fd_ref + fd_slack)) ]; then
			echo "soak: minute $minute: RSS $rss KiB or fds $fds above minute 1's" \
			     "$rss_ref KiB + $rss_slack, $fd_ref + $fd_slack"
			grew=1
		fi
	fi
}
sample
while [ $t -lt "$secs" ]; do
	# 40 s busy (connections vary by minute), 20 s quiet
	c=$(( 8 + (minute % 3) * 12 ))
	out=$(wrk -t2 -c$c -d40s --timeout 5s "http://127.0.0.1:$port/slow?ms=20" 2>&1)
	req=$(echo "$out" | awk '/requests in/{print $1}')
	err=$(echo "$out" | awk '/Socket errors/{gsub(",","");s=0;for(i=4;i<=NF;i+=2)s+=$i;print s}')
	non=$(echo "$out" | awk '/Non-2xx/{print $NF}')
	total=$((total + ${req:-0})); errors=$((errors + ${err:-0} + ${non:-0}))
	sleep 20
	t=$((t + 60)); minute=$((minute + 1))
	sample
done
grep -E "scale (up|down)" "$dir/log" | tail -5
echo "soak: $total requests, $errors errors in $t s; RSS and fds bound: minute 1's" \
     "$rss_ref KiB + $rss_slack, $fd_ref + $fd_slack"
[ "$t" -ge 180 ] || { echo "soak: run at least 180 s to compare minutes"; grew=1; }
[ "$errors" -eq 0 ] && [ "$grew" -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
[ "$errors" -eq 0 ] && [ "$grew" -eq 0 ]
