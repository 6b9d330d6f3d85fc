#!/bin/sh
# See LICENSE file for copyright and license details.
# usage: sh bench/bench.sh          (make bench; run from anywhere)
#
# Throughput, latency, CPU and memory of prescal against its peers, and the
# cost of a cold start (scale from zero) against plain Docker API calls.
# Prints markdown and writes it to bench/results.md. Needs wrk, nginx,
# haproxy and curl; installs nothing. Everything listens on 127.0.0.1.
#
# environment:
#   BENCH_SECONDS  one wrk run, seconds (default 5)
#   BENCH_ROUNDS   rounds per scenario; medians are reported (default 3)
#   PRESCAL_FLAGS  extra prescal flags, e.g. "-t 32"
#   BENCH_ONLY     run only the scenarios whose names match this grep
#                  pattern (e.g. 'ka-small-64'; 'apps': the many-apps
#                  section alone), no cold start, and write
#                  bench/partial.md instead of bench/results.md
#   BENCH_APPS_ROUNDS  rounds of the many-apps section (default 5)
#   BENCH_TARGETS  targets to run (default "direct nginx haproxy prescal")
#   DOCKER_HOST    unix:// socket of the daemon (default /var/run/docker.sock)
#
# targets, all forwarding to one backend:
#   direct   wrk straight to the backend: the ceiling
#   nginx    nginx as a reverse proxy
#   haproxy  HAProxy in mode http
#   prescal  ./prescal -q -l ... -b ... (+ $PRESCAL_FLAGS)
#
# fairness: the peers are configured the way one would run them in front of
# a keep-alive backend, no feature off that prescal has on and vice versa:
# - every proxy keeps idle backend connections (nginx upstream keepalive 64
#   with HTTP/1.1 and an empty Connection header, HAProxy http-reuse always,
#   prescal its idle pool of IDLE_PER_BACKEND = 64) and keep-alive to
#   clients with no per-connection request limit that a run could reach;
# - no access logs anywhere (nginx access_log off, HAProxy no log, prescal -q);
# - nginx 2 workers and HAProxy nbthread 2 on this machine's CPUs; prescal
#   its default thread pool (a thread per active connection, its design);
# - the backend is nginx with one worker answering from memory (return 200),
#   so it costs the same for every target.
# The scenarios run round by round, and within each round the targets in an
# order rotated by one each round, so drift (other load, thermal, page cache)
# hits all targets alike. wrk runs -t2 (-t1 for 1 connection: wrk needs at
# least one connection per thread).
#
# columns: req/s, p50 and p99 are medians over the rounds (p50/p99 from
# wrk --latency); errors are wrk's socket errors (connect, read, write,
# timeout) plus non-2xx/3xx responses, summed over all rounds, timeouts
# also on their own; CPU is utime+stime of all the proxy's processes (nginx
# master and workers, haproxy, prescal) over the run divided by requests,
# median; RSS is the largest sum of VmRSS over the proxy's processes sampled
# every 0.2 s during the runs (shared pages count once per process).
#
# many apps: a second prescal with 100 app blocks (host app001.bench.test
# .. app100.bench.test, each with the backend as its static backend)
# against the one-app prescal above, GET /small at 64 connections with a
# Host header of the first and of the last of the 100 (the one-app prescal
# gets the same header). Both run the same number of workers (-t, the
# one-app's auto size): the auto size adds up every app's bound, 4096 here,
# and a process with six times the threads gets more of a shared machine,
# which is not what is measured. Its own rounds, the three runs rotated each
# round; req/s median (min..max) and the ratio of the medians; RSS of the
# 100-app prescal when it started and the largest seen under load. Also
# written to bench/apps-results.md. bench/idle.sh has the footprint of 100
# apps with the auto size.
#
# cold start (only if a Docker daemon answers): 5 rounds, median, of
# (a) the first request through a freshly started prescal -m 0 -i <image>,
# timed from just before the request to its 200, and (b) what a script would
# do by hand: create + start the container through the API, inspect for its
# published port, poll GET / every 10 ms until 200, timed the same way.

# shellcheck disable=SC3045  # ulimit -n and -H: dash and bash have them
set -u

cd "$(dirname "$0")/.." || exit 1
PATH=$PATH:/usr/sbin:/sbin
export PATH

secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
appsrounds=${BENCH_APPS_ROUNDS:-5}
napps=100
out=bench/results.md
image='prescal-test-backend:latest'
coldrounds=5
targets=${BENCH_TARGETS:-direct nginx haproxy prescal}
only=${BENCH_ONLY:-}
for t in $targets; do
	case $t in
	direct | nginx | haproxy | prescal) ;;
	*) echo "bench: BENCH_TARGETS: unknown target '$t' (direct nginx haproxy prescal)" >&2; exit 2 ;;
	esac
done
# name path connections extra-header
scenarios="ka-small-1 /small 1 -
ka-small-16 /small 16 -
ka-small-64 /small 64 -
ka-small-256 /small 256 -
close-small-16 /small 16 close
ka-16k-64 /16k 64 -
ka-16k-256 /16k 256 -
slow50-100 /slow?ms=50 100 -
slow50-400 /slow?ms=50 400 -"
appsscen=apps-small-64
if [ -n "$only" ]; then
	scenarios=$(echo "$scenarios" | grep -e "$only")
	appsscen=$(echo "$appsscen" | grep -e "$only")
	[ -n "$scenarios$appsscen" ] || { echo "bench: no scenario matches '$only'" >&2; exit 2; }
	out=bench/partial.md
fi

# tools: check, never install
missing=
for t in wrk nginx haproxy curl awk ss; do
	command -v "$t" > /dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "bench: missing:$missing" >&2
	echo "apt-get install wrk nginx haproxy" >&2
	exit 1
fi
if [ ! -x ./prescal ] || [ ! -x ./tests/backend ]; then
	echo "bench: no ./prescal or ./tests/backend; run make prescal tests/backend first" >&2
	exit 1
fi
case $secs$rounds$appsrounds in
*[!0-9]*) echo "bench: BENCH_SECONDS and BENCH_*ROUNDS are whole numbers" >&2; exit 2 ;;
esac
if [ "$secs" -lt 1 ] || [ "$rounds" -lt 1 ] || [ "$appsrounds" -lt 1 ]; then
	echo "bench: BENCH_SECONDS and BENCH_*ROUNDS must be at least 1" >&2
	exit 2
fi

# descriptors: 256 client + 256 backend connections per proxy and then some
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then
	ulimit -n 65536
else
	ulimit -n "$hard"
fi
if [ "$(ulimit -n)" -lt 2048 ]; then
	echo "bench: ulimit -n is $(ulimit -n); need 2048" >&2
	exit 1
fi

# cleanup: every process this script started, containers, the temp dir
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prescal-bench.XXXXXX") || exit 1
pids=
sampler=
sock=/var/run/docker.sock
case ${DOCKER_HOST:-} in
unix://*) sock=${DOCKER_HOST#unix://} ;;
esac
docker_ok=0
cleanup() {
	trap - EXIT INT TERM
	for p in $sampler $pids; do
		kill "$p" 2> /dev/null
	done
	# prescal removes its containers on SIGTERM: give it time
	n=0
	while [ $n -lt 100 ]; do
		alive=
		for p in $pids; do
			kill -0 "$p" 2> /dev/null && alive=1
		done
		[ -z "$alive" ] && break
		sleep 0.1
		n=$((n + 1))
	done
	for p in $pids; do
		kill -9 "$p" 2> /dev/null
	done
	wait 2> /dev/null
	if [ "$docker_ok" = 1 ]; then
		docker_rm_label "prescal.bench=$$"
		docker_rm_label "prescal.name=benchcold$$"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# helpers
listening() {
	ss -Htln "sport = :$1" 2> /dev/null | grep -q .
}
# freeport: sets $fport to a port no socket uses, below the ephemeral range
# (not echoed: $(freeport) would lose the count in a subshell)
nextport=$((20000 + $$ % 500 * 20))
freeport() {
	while ss -Htan "sport = :$nextport" 2> /dev/null | grep -q .; do
		nextport=$((nextport + 1))
	done
	fport=$nextport
	nextport=$((nextport + 1))
}
# waitlisten port pid: true once port listens, false if pid dies or 10 s pass
waitlisten() {
	n=0
	while [ $n -lt 100 ]; do
		listening "$1" && return 0
		kill -0 "$2" 2> /dev/null || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}
# children pid: the pids whose parent is pid
children() {
	parent=$1
	for f in /proc/[0-9]*/stat; do
		read -r l 2> /dev/null < "$f" || continue
		r=${l##*) }
		set -- $r
		[ "$2" = "$parent" ] && { p=${f#/proc/}; echo "${p%/stat}"; }
	done
}
# cputicks pid...: utime+stime of the processes (fields 14 and 15)
cputicks() {
	ticks=0
	for p in "$@"; do
		read -r l < "/proc/$p/stat" || continue
		r=${l##*) }
		set -- $r
		ticks=$((ticks + ${12} + ${13}))
	done
	echo "$ticks"
}
# samplerss file pid...: keeps the largest summed VmRSS (kB) in file
samplerss() {
	file=$1
	shift
	max=0
	while :; do
		sum=0
		for p in "$@"; do
			while read -r k v _; do
				if [ "$k" = VmRSS: ]; then
					sum=$((sum + v))
					break
				fi
			done < "/proc/$p/status"
		done
		if [ "$sum" -gt "$max" ]; then
			max=$sum
			echo "$max" > "$file"
		fi
		sleep 0.2
	done
}
now_ns() {
	date +%s%N
}
# workers name: the worker count prescal logged once its workers were up
# (it listens before that); waits up to 10 s for the line
workers() {
	n=0
	while :; do
		w=$(sed -n 's/.*listening on [^,]*, \([0-9]*\) workers.*/\1/p' "$tmp/$1.log")
		[ -n "$w" ] || [ $n -ge 100 ] && break
		sleep 0.1
		n=$((n + 1))
	done
	echo "${w:-?}" | head -n 1
}
# autothreads: the worker count prescal would choose for the 100 apps
autothreads() {
	"$prescal" -T -f "$tmp/apps.conf" 2>&1 | awk '$1 == "threads" { print $2 }'
}
dockerapi() {
	curl -s --max-time 30 --unix-socket "$sock" "$@"
}
# docker_rm_label label: docker rm -f every container carrying the label
docker_rm_label() {
	f=$(printf '{"label":["%s"]}' "$1" | sed 's/{/%7B/g; s/}/%7D/g; s/"/%22/g; s/\[/%5B/g; s/]/%5D/g; s/=/%3D/g; s/:/%3A/g')
	for id in $(dockerapi "http://docker/v1.41/containers/json?all=1&filters=$f" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		dockerapi -X DELETE "http://docker/v1.41/containers/$id?force=1" > /dev/null
	done
}

# prescal: run a copy, so a rebuild during the run changes nothing
cp ./prescal "$tmp/prescal" || exit 1
prescal=$tmp/prescal
prescalbuilt=$(date -u -r ./prescal '+%Y-%m-%d %H:%M:%S UTC')

# backend: nginx, one worker, fixed bodies from memory; /slow?ms=50 goes on
# to tests/backend, which answers after 50 ms (a slow app: the same extra
# hop for every target)
freeport
bport=$fport
freeport
sport=$fport
userline=
[ "$(id -u)" = 0 ] && userline="user $(id -un);"
chunk=$(awk 'BEGIN { s = "0123456789abcdef"; while (length(s) < 2048) s = s s; print s }')
common="$userline
daemon off;
error_log $tmp/NAME.err warn;
pid $tmp/NAME.pid;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }"
temps="client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy;
	fastcgi_temp_path $tmp/fastcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 60s;"
{
	echo "worker_processes 1;"
	echo "$common" | sed "s/NAME/backend/"
	cat << EOF
http {
	$temps
	default_type text/plain;
	server {
		listen 127.0.0.1:$bport backlog=4096;
		location = /small { return 200 "hello, world!\n"; }
		location = /16k {
			set \$c "$chunk";
			return 200 "\$c\$c\$c\$c\$c\$c\$c\$c";
		}
		location = /slow {
			proxy_pass http://slowapp;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
	upstream slowapp {
		server 127.0.0.1:$sport;
		keepalive 1024;
	}
}
EOF
} > "$tmp/backend.conf"

# nginx as proxy: 2 workers, upstream keep-alive
freeport
nport=$fport
{
	echo "worker_processes 2;"
	echo "$common" | sed "s/NAME/nginx/"
	cat << EOF
http {
	$temps
	upstream be {
		server 127.0.0.1:$bport;
		keepalive 64;
		keepalive_requests 100000000;
	}
	server {
		listen 127.0.0.1:$nport backlog=4096;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
} > "$tmp/nginx.conf"

# haproxy: 2 threads, backend connection reuse, no logging
freeport
hport=$fport
cat > "$tmp/haproxy.cfg" << EOF
global
	nbthread 2
	maxconn 4096
defaults
	mode http
	option http-keep-alive
	http-reuse always
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	timeout http-request 10s
	timeout http-keep-alive 60s
frontend fe
	bind 127.0.0.1:$hport
	default_backend be
backend be
	server s1 127.0.0.1:$bport
EOF

freeport
pport=$fport

# many apps: 100 app blocks, each with the backend as its static backend
freeport
aport=$fport
{
	echo "listen 127.0.0.1:$aport"
	i=1
	while [ $i -le $napps ]; do
		n=$(printf '%03d' $i)
		printf 'app app%s\n\thost app%s.bench.test\n\tbackend 127.0.0.1:%s\n' "$n" "$n" "$bport"
		i=$((i + 1))
	done
} > "$tmp/apps.conf"
lastapp=app$(printf '%03d' $napps).bench.test

# start: each server in the background, logs in the temp dir
start() {
	name=$1
	port=$2
	shift 2
	if listening "$port"; then
		echo "bench: port $port taken before $name started" >&2
		exit 1
	fi
	"$@" > "$tmp/$name.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	if ! waitlisten "$port" "$spid" || ! kill -0 "$spid" 2> /dev/null; then
		echo "bench: $name did not come up on port $port:" >&2
		tail -n 20 "$tmp/$name.log" "$tmp/$name.err" >&2 2> /dev/null
		exit 1
	fi
}
start slowapp "$sport" ./tests/backend -p "$sport"
start backend "$bport" nginx -p "$tmp/" -c "$tmp/backend.conf" -e "$tmp/backend.err"
start nginx "$nport" nginx -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/nginx.err"
nmaster=$spid
start haproxy "$hport" haproxy -db -f "$tmp/haproxy.cfg"
hpid=$spid
# shellcheck disable=SC2086  # PRESCAL_FLAGS is meant to split
start prescal "$pport" "$prescal" -q -a '' -l "127.0.0.1:$pport" -b "127.0.0.1:$bport" ${PRESCAL_FLAGS:-}
ppid_=$spid
if [ -n "$appsscen" ]; then
	# shellcheck disable=SC2086  # PRESCAL_FLAGS is meant to split
	start prescal-apps "$aport" "$prescal" -q -a '' -f "$tmp/apps.conf" -t "$(workers prescal)" \
		${PRESCAL_FLAGS:-}
	apid=$spid
	for h in app001.bench.test "$lastapp"; do
		s=$(curl -s --max-time 5 -H "Host: $h" "http://127.0.0.1:$aport/small" | wc -c)
		[ "$s" -eq 14 ] || { echo "bench: prescal-apps answers $s bytes for $h, want 14" >&2; exit 1; }
	done
	sleep 1  # it listens before its workers are up
	arss0=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$apid/status")
fi
sleep 0.3
nprocs="$nmaster $(children "$nmaster")"

# sanity: every target answers both bodies with the right length
for t in direct nginx haproxy prescal; do
	case $t in
	direct) port=$bport ;; nginx) port=$nport ;; haproxy) port=$hport ;; prescal) port=$pport ;;
	esac
	s=$(curl -s --max-time 5 "http://127.0.0.1:$port/small" | wc -c)
	b=$(curl -s --max-time 5 "http://127.0.0.1:$port/16k" | wc -c)
	if [ "$s" -ne 14 ] || [ "$b" -ne 16384 ]; then
		echo "bench: $t answers $s and $b bytes, want 14 and 16384" >&2
		exit 1
	fi
done

# parsewrk file: requests rps p50ms p99ms errors timeouts
parsewrk() {
	awk '
	function ms(v,   n) {
		n = v + 0
		if (v ~ /us$/) return n / 1000
		if (v ~ /ms$/) return n
		if (v ~ /m$/) return n * 60000
		if (v ~ /s$/) return n * 1000
		return n
	}
	/ requests in / { req = $1 }
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10; to += $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END {
		if (req == "") { print "0 0 0 0 -1 0"; exit }
		printf "%d %.0f %.3f %.3f %d %d\n", req, rps, p50, p99, err, to
	}' "$1"
}

# measure scenario round target path conns hdr
measure() {
	scen=$1 round=$2 target=$3 path=$4 conns=$5 hdr=$6
	case $target in
	direct) port=$bport procs= ;;
	nginx) port=$nport procs=$nprocs ;;
	haproxy) port=$hport procs=$hpid ;;
	prescal) port=$pport procs=$ppid_ ;;
	apps-*) port=$aport procs=$apid ;;
	esac
	threads=2
	[ "$conns" -lt 2 ] && threads=1
	set -- -t"$threads" -c"$conns" -d"${secs}s" --timeout 2s --latency
	case $hdr in
	close) set -- "$@" -H 'Connection: close' ;;
	host=*) set -- "$@" -H "Host: ${hdr#host=}" ;;
	esac
	rm -f "$tmp/rss"
	if [ -n "$procs" ]; then
		c0=$(cputicks $procs)
		samplerss "$tmp/rss" $procs &
		sampler=$!
	fi
	wrk "$@" "http://127.0.0.1:$port$path" < /dev/null > "$tmp/wrk.out" 2>&1
	cpu=- rss=-
	if [ -n "$procs" ]; then
		c1=$(cputicks $procs)
		kill "$sampler" 2> /dev/null
		wait "$sampler" 2> /dev/null
		sampler=
		[ -s "$tmp/rss" ] && rss=$(cat "$tmp/rss")
	fi
	# shellcheck disable=SC2046  # six numbers, split on purpose
	set -- $(parsewrk "$tmp/wrk.out")
	if [ "$5" -lt 0 ]; then
		echo "bench: wrk failed for $target $scen:" >&2
		tail -n 5 "$tmp/wrk.out" >&2
	fi
	if [ -n "$procs" ] && [ "$1" -gt 0 ]; then
		cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$1" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
	fi
	echo "$scen $round $target $2 $3 $4 $5 $6 $cpu $rss $1" >> "$tmp/raw"
	printf '  round %d %-15s %-8s %8s req/s  p50 %7s ms  p99 %8s ms  err %s (t/o %s)  cpu %s us/req\n' \
		"$round" "$scen" "$target" "$2" "$3" "$4" "$5" "$6" "$cpu" >&2
	# keep wrk output of anything with errors for the notes
	if [ "$5" -ne 0 ]; then
		{ echo "== round $round $scen $target"; cat "$tmp/wrk.out"; } >> "$tmp/errors.log"
	fi
}

hz=$(getconf CLK_TCK)
begin=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: > "$tmp/raw"
echo "$scenarios" > "$tmp/scenarios"
echo "bench: backend :$bport, nginx :$nport (pids$(printf ' %s' $nprocs)), haproxy :$hport," \
	"prescal :$pport; $rounds rounds of ${secs}s" >&2

# warm-up: a second per target so every proxy has its backend connections
for t in $targets; do
	case $t in
	direct) port=$bport ;; nginx) port=$nport ;; haproxy) port=$hport ;; prescal) port=$pport ;;
	esac
	wrk -t2 -c16 -d1s "http://127.0.0.1:$port/small" > /dev/null 2>&1
done
if [ -n "$appsscen" ]; then
	for h in app001.bench.test "$lastapp"; do
		wrk -t2 -c16 -d1s -H "Host: $h" "http://127.0.0.1:$aport/small" > /dev/null 2>&1
	done
fi

# rotate: $order with its first word moved to the end
rotate() {
	set -- $order
	first=$1
	shift
	order="$* $first"
}

r=1
while [ -n "$scenarios" ] && [ "$r" -le "$rounds" ]; do
	# this round's order: targets rotated left by r-1
	order=$targets
	i=1
	while [ "$i" -lt "$r" ]; do
		rotate
		i=$((i + 1))
	done
	echo "bench: round $r/$rounds: $order" >&2
	# read from a file, not a pipe: the loop must run in this shell so the
	# trap knows the sampler
	while read -r scen path conns hdr; do
		for t in $order; do
			measure "$scen" "$r" "$t" "$path" "$conns" "$hdr"
			sleep 0.3
		done
	done < "$tmp/scenarios"
	r=$((r + 1))
done

# many apps: one app, then 100 apps with the first host and the last,
# in an order rotated each round
r=1
order="prescal apps-first apps-last"
while [ -n "$appsscen" ] && [ "$r" -le "$appsrounds" ]; do
	echo "bench: apps round $r/$appsrounds: $order" >&2
	for t in $order; do
		case $t in
		apps-first) h=app001.bench.test ;;
		*) h=$lastapp ;;
		esac
		measure "$appsscen" "$r" "$t" /small 64 "host=$h"
		sleep 0.3
	done
	rotate
	r=$((r + 1))
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# awk functions for the tables: sort(s, a) splits the numbers in s into
# a[1..n] in order and returns n; median(s) is their median, 0 if none
awkmedian='
function sort(s, a,   n, i, j, x) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) {
		x = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	return n
}
function median(s,   a, n) {
	n = sort(s, a)
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}'

# report: one table per scenario
report() {
	echo "$scenarios" | while read -r scen path conns hdr; do
		what="keep-alive"
		[ "$hdr" = close ] && what="Connection: close"
		echo
		echo "### $scen: GET $path, $conns connections, $what"
		echo
		awk -v scen="$scen" -v targets="$targets" "$awkmedian"'
		$1 == scen {
			t = $3
			rps[t] = rps[t] " " $4; p50[t] = p50[t] " " $5; p99[t] = p99[t] " " $6
			err[t] += ($7 < 0 ? 0 : $7); to[t] += $8
			if ($9 != "-") cpu[t] = cpu[t] " " $9
			if ($10 != "-" && $10 + 0 > rss[t] + 0) rss[t] = $10
		}
		END {
			print "| target | req/s | p50 ms | p99 ms | errors (timeouts) | vs direct | vs nginx | CPU us/req | RSS MiB |"
			print "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
			d = median(rps["direct"]); ng = median(rps["nginx"])
			n = split(targets, ts, " ")
			for (i = 1; i <= n; i++) {
				t = ts[i]
				m = median(rps[t])
				printf "| %s | %.0f | %.3f | %.3f | %d (%d) | %s | %s | %s | %s |\n", t, m,
				    median(p50[t]), median(p99[t]), err[t], to[t],
				    (d > 0 ? sprintf("%.2f", m / d) : "-"),
				    (ng > 0 ? sprintf("%.2f", m / ng) : "-"),
				    (cpu[t] == "" ? "-" : sprintf("%.1f", median(cpu[t]))),
				    (rss[t] == "" ? "-" : sprintf("%.1f", rss[t] / 1024))
			}
		}' "$tmp/raw"
	done
}

# the many-apps table: req/s median (min..max) and the ratio to one app
appsreport() {
	cat << EOF
GET /small, 64 connections, keep-alive, $appsrounds rounds of ${secs}s, the
three runs in an order rotated each round. "one app": the prescal of the
tables above (\`-b\`, no app block); "100 apps": \`-f\` with $napps app blocks
(app001.bench.test .. app100.bench.test), each with the same backend as a
static backend; the request's Host is the first or the last of them (the
one-app prescal gets the last). RSS of the 100-app prescal at start:
$(awk -v k="$arss0" 'BEGIN { printf "%.1f", k / 1024 }') MiB. Workers: one app $(workers prescal), 100 apps
$(workers prescal-apps) (-t; its auto size would be $(autothreads), which adds up every app's bound).

EOF
	awk -v scen="$appsscen" "$awkmedian"'
	function range(s,   a, n) {
		n = sort(s, a)
		return n ? sprintf("%.0f..%.0f", a[1], a[n]) : "-"
	}
	$1 == scen {
		t = $3
		rps[t] = rps[t] " " $4; p99[t] = p99[t] " " $6
		err[t] += ($7 < 0 ? 0 : $7)
		if ($9 != "-") cpu[t] = cpu[t] " " $9
		if ($10 != "-" && $10 + 0 > rss[t] + 0) rss[t] = $10
	}
	END {
		name["prescal"] = "one app"
		name["apps-first"] = "100 apps, Host app001 (first)"
		name["apps-last"] = "100 apps, Host app100 (last)"
		print "| prescal | req/s median | min..max | vs one app | p99 ms | errors | CPU us/req | RSS MiB (max) |"
		print "|---|--:|--:|--:|--:|--:|--:|--:|"
		one = median(rps["prescal"])
		n = split("prescal apps-first apps-last", ts, " ")
		for (i = 1; i <= n; i++) {
			t = ts[i]
			m = median(rps[t])
			printf "| %s | %.0f | %s | %s | %.3f | %d | %s | %s |\n", name[t], m, range(rps[t]),
			    (one > 0 ? sprintf("%.3f", m / one) : "-"), median(p99[t]), err[t],
			    (cpu[t] == "" ? "-" : sprintf("%.1f", median(cpu[t]))),
			    (rss[t] == "" ? "-" : sprintf("%.1f", rss[t] / 1024))
		}
		if (one > 0) {
			worst = median(rps["apps-first"]) / one
			if (median(rps["apps-last"]) / one < worst) worst = median(rps["apps-last"]) / one
			printf "\nWorst ratio %.3f: %s the 3%% bound (0.970).\n", worst,
			    (worst >= 0.97 ? "within" : "outside")
		}
	}' "$tmp/raw"
}

# cold start: (a) through prescal from zero, (b) by hand through the API.
# Both run in this shell (no $(...)) so the trap knows prescal's pid; the
# time in microseconds is left in $us.
coldprescal() {
	us=-
	freeport
	port=$fport
	printf 'pull never\n' > "$tmp/cold.conf"
	"$prescal" -q -a '' -m 0 -i "$image" -p 8080 -n "benchcold$$" -s "$sock" \
		-f "$tmp/cold.conf" -l "127.0.0.1:$port" >> "$tmp/cold.log" 2>&1 &
	cpid=$!
	pids="$pids $cpid"
	if ! waitlisten "$port" "$cpid"; then
		echo "bench: prescal (cold) did not come up:" >&2
		tail -n 5 "$tmp/cold.log" >&2
		return 1
	fi
	t0=$(now_ns)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "http://127.0.0.1:$port/")
	t1=$(now_ns)
	# SIGTERM: prescal removes its containers before it exits
	kill "$cpid"
	wait "$cpid"
	pids=$(echo "$pids" | sed "s/ $cpid\$//")
	[ "$code" = 200 ] || { echo "bench: cold prescal answered '$code'" >&2; return 1; }
	us=$(((t1 - t0) / 1000))
}
coldapi() {
	us=-
	body=$(printf '{"Image":"%s","Labels":{"prescal.bench":"%s"},"ExposedPorts":{"8080/tcp":{}},"HostConfig":{"PortBindings":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":""}]}}}' "$image" "$$")
	t0=$(now_ns)
	id=$(dockerapi -X POST -H 'Content-Type: application/json' -d "$body" \
		"http://docker/v1.41/containers/create" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4)
	[ -n "$id" ] || { echo "bench: container create failed" >&2; return 1; }
	dockerapi -X POST "http://docker/v1.41/containers/$id/start" > /dev/null
	hp=$(dockerapi "http://docker/v1.41/containers/$id/json" |
		grep -o '"HostPort":"[0-9][0-9]*"' | head -n 1 | cut -d'"' -f4)
	code=
	if [ -n "$hp" ]; then
		n=0
		while [ $n -lt 3000 ]; do
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$hp/")
			[ "$code" = 200 ] && break
			sleep 0.01
			n=$((n + 1))
		done
	fi
	t1=$(now_ns)
	dockerapi -X DELETE "http://docker/v1.41/containers/$id?force=1" > /dev/null
	[ "$code" = 200 ] || { echo "bench: container on port '$hp' never answered" >&2; return 1; }
	us=$(((t1 - t0) / 1000))
}
cold() {
	if [ "$(curl -s --max-time 2 --unix-socket "$sock" http://docker/_ping 2> /dev/null)" != OK ]; then
		echo "No Docker daemon answers on $sock: skipped."
		return
	fi
	docker_ok=1
	if ! dockerapi -f "http://docker/v1.41/images/$image/json" > /dev/null; then
		if ! command -v docker > /dev/null 2>&1 || ! sh tests/mkimage.sh >&2; then
			echo "Image $image missing and tests/mkimage.sh failed: skipped."
			return
		fi
	fi
	: > "$tmp/cold"
	i=1
	while [ $i -le $coldrounds ]; do
		coldprescal
		a=$us
		coldapi
		b=$us
		echo "  cold round $i: prescal $a us, api $b us" >&2
		echo "$a $b" >> "$tmp/cold"
		i=$((i + 1))
	done
	cat << EOF
Image \`$image\`, $coldrounds rounds, median (min..max) of the time from just
before the request to its 200 answer, ms. (a) \`prescal -m 0 -i $image -p 8080\`
with \`pull never\`, started and listening, gets its first request; (b) the
same image through the Engine API by hand: create (port 8080 published on
127.0.0.1, ephemeral), start, inspect for the port, GET / every 10 ms.

EOF
	awk "$awkmedian"'
	function med(s,   a, n) {
		n = sort(s, a)
		if (n == 0) return "-"
		return sprintf("%.1f (%.1f..%.1f)", median(s) / 1000, a[1] / 1000, a[n] / 1000)
	}
	{ if ($1 != "-") a = a " " $1; else fa++; if ($2 != "-") b = b " " $2; else fb++ }
	END {
		print "| path | ms | failed |"
		print "|---|--:|--:|"
		printf "| (a) prescal -m 0: first request | %s | %d |\n", med(a), fa
		printf "| (b) API create+start+inspect+poll | %s | %d |\n", med(b), fb
	}' "$tmp/cold"
}

if [ -n "$only" ]; then
	echo "BENCH_ONLY set: cold start skipped." > "$tmp/coldtable"
else
	echo "bench: cold start" >&2
	cold > "$tmp/coldtable"
fi
took=$(($(date +%s) - begin))
[ -n "$appsscen" ] && appsreport > "$tmp/appstable"

{
	echo "# prescal benchmark"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(uname -srm)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); took ${took} s;" \
		"load average $load0 before, $load1 after"
	echo "- $("$prescal" -v) (binary of $prescalbuilt), $(nginx -v 2>&1 | sed 's/^nginx version: //')," \
		"$(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	echo "- wrk -t2 (-t1 at 1 connection) -d${secs}s --latency, $rounds rounds, targets in rotated order;" \
		"prescal flags: -q ${PRESCAL_FLAGS:-(defaults)}"
	echo "- backend: nginx, 1 worker, \`return 200\` (14 B /small, 16384 B /16k)"
	awk -v a="${load0%% *}" -v b="${load1%% *}" -v n="$(nproc)" 'BEGIN {
		if (a + 0 > n || b + 0 > n)
			print "- **note: the 1-minute load average exceeded the CPU count (" n ")" \
			    " before or after the run: other work shared the machine, so" \
			    " treat these numbers, above all p99, as rough**"
	}'
	echo
	if [ -n "$scenarios" ]; then
		echo "## Throughput and latency"
		report
	fi
	if [ -n "$appsscen" ]; then
		echo
		echo "## Many apps"
		echo
		cat "$tmp/appstable"
	fi
	echo
	echo "## Cold start"
	echo
	cat "$tmp/coldtable"
	if [ -s "$tmp/prescal.log" ]; then
		echo
		echo "## prescal stderr (last 20 lines)"
		echo
		echo '```'
		tail -n 20 "$tmp/prescal.log"
		echo '```'
	fi
	if [ -s "$tmp/errors.log" ]; then
		echo
		echo "## Runs with errors (wrk output)"
		echo
		echo '```'
		cat "$tmp/errors.log"
		echo '```'
	fi
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
if [ -n "$appsscen" ]; then
	{
		echo "# prescal benchmark: many apps"
		echo
		sed -n '3,/^$/p' "$out" | sed '$d'
		echo
		cat "$tmp/appstable"
	} > bench/apps-results.md
fi
exit 0
