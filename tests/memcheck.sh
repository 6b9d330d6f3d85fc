#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/memcheck.sh: prescal under valgrind memcheck for a mixed run (keep-
# alive, pipelining, chunked both ways, bodies, errors, upgrade, 502/504,
# SIGTERM). Passes when valgrind reports no error and nothing definitely
# or indirectly lost.
set -u
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "memcheck: valgrind missing (apt-get install valgrind)"; exit 1; }
command -v curl >/dev/null || { echo "memcheck: curl missing"; exit 1; }
dir=$(mktemp -d)
# ports below the ephemeral range (32768+), so no outgoing socket holds them
bport=$(( 20000 + $$ % 6000 * 2 )); pport=$((bport + 1))
./tests/backend -p "$bport" >"$dir/backend.log" 2>&1 & bpid=$!
printf 'backend_timeout 1500\n' >"$dir/conf"
valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--error-exitcode=99 --log-file="$dir/vg.log" \
	./prescal -q -l "127.0.0.1:$pport" -b "127.0.0.1:$bport" -t 4 -a off -f "$dir/conf" \
	>"$dir/prescal.log" 2>&1 & ppid=$!
cleanup() { kill "$bpid" "$ppid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT INT TERM
i=0
until grep -q "listening on" "$dir/prescal.log" 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pport/")
if [ "$code" != 200 ]; then
	echo "memcheck: prescal under valgrind did not answer (got '$code'):"
	cat "$dir/prescal.log" "$dir/backend.log" | sed 's/^/  /'
	echo "0 passed, 1 failed"
	exit 1
fi

u="http://127.0.0.1:$pport"
head -c 300000 /dev/urandom >"$dir/up"
get() { for url; do curl -s -o /dev/null "$url"; done; }
get "$u/" "$u/echo" "$u/chunked?n=5&size=100" "$u/big?bytes=200000"
curl -s -H 'Transfer-Encoding: chunked' --data-binary @"$dir/up" "$u/sink" -o /dev/null
curl -s --data-binary @"$dir/up" "$u/sink" -o /dev/null
curl -s -0 "$u/chunked?n=3&size=10" -o /dev/null
curl -s -I "$u/" -o /dev/null
curl -s "$u/bigclose?bytes=50000" -o /dev/null
get "$u/status/204" "$u/status/304" "$u/early103"
curl -s -H 'Expect: 100-continue' --data-binary @"$dir/up" "$u/continue" -o /dev/null
curl -s -H 'Content-Length: 1' -H 'Transfer-Encoding: chunked' "$u/" -o /dev/null
curl -s --http1.1 -H 'Upgrade: websocket' -H 'Connection: Upgrade' -m 1 "$u/ws" -o /dev/null
curl -s -m 5 "$u/hang" -o /dev/null
( for n in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null "$u/?n=$n" & done; wait )
kill "$bpid"; wait "$bpid" 2>/dev/null
curl -s "$u/" -o /dev/null   # 502 now
kill -TERM "$ppid"
wait "$ppid"; rc=$?
errors=$(grep -E "ERROR SUMMARY" "$dir/vg.log" | tail -1)
lost=$(grep -E "definitely lost|indirectly lost" "$dir/vg.log" | tr '\n' ' ')
echo "memcheck: prescal exit $rc; $errors"
[ -n "$lost" ] && echo "memcheck: $lost"
if [ "$rc" -ne 0 ] || ! echo "$errors" | grep -q "ERROR SUMMARY: 0 errors"; then
	sed 's/^/  /' "$dir/vg.log" | tail -60
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
