#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/plot_check.sh (make plot-check): the admin page in headless Chromium
# during a scale-from-zero episode. prescal scales the test backend image
# (-m 0 -M 3 -c 2); a few curl loops load it for a while and stop; then the
# page's DOM (after its script ran) must show the instances plot rising
# from 0 and the scale decisions marked with their reasons, and falling
# again after the drain. Screenshots (light, dark, phone width) go to
# $PLOT_OUT (default /tmp/prescal-plot) for a person to look at.
# Needs dockerd and Debian's chromium; without either it skips loudly, or
# fails when PRESCAL_REQUIRE_DOCKER=1. Takes about 40 s.
set -u
cd "$(dirname "$0")/.."

out=${PLOT_OUT:-/tmp/prescal-plot}
set_name="pplot-$$"
image=prescal-plot-backend:latest
pass=0 fail=0 pp= loads=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plot_check.XXXXXX")

ok()   { pass=$((pass + 1)); echo "ok: $*"; }
bad()  { fail=$((fail + 1)); echo "FAILED: $*"; }
skip() {
	if [ "${PRESCAL_REQUIRE_DOCKER:-0}" = 1 ]; then
		echo "FAILED: $* and PRESCAL_REQUIRE_DOCKER=1"
		exit 1
	fi
	echo "*** SKIPPED: $*: plot check not run ***"
	exit 0
}
cleanup() {
	[ -z "$loads" ] || kill $loads 2>/dev/null
	if [ -n "$pp" ]; then
		kill "$pp" 2>/dev/null
		wait "$pp" 2>/dev/null
	fi
	ids=$(docker ps -aq --filter "label=prescal.name=$set_name" 2>/dev/null)
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# a port nothing listens on
free_port() {
	p=$(( 20000 + ($$ * 7 + $1 * 1009) % 20000 ))
	while ss -ltn 2>/dev/null | grep -q ":$p "; do p=$((p + 1)); done
	echo "$p"
}

# Chromium, headless, as root: one run with the given arguments
browse() {
	prof=$1
	shift
	timeout 60 chromium --headless --no-sandbox --disable-gpu \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --user-data-dir="$tmp/profile$prof" "$@" 2>>"$tmp/chromium.log"
}

command -v chromium >/dev/null || skip "no chromium (apt-get install chromium)"
docker version >/dev/null 2>&1 || skip "no Docker daemon reachable"
sh tests/mkimage.sh "$image" >/dev/null || { echo "FAILED: test image"; exit 1; }
mkdir -p "$out"

lport=$(free_port 1)
aport=$(free_port 2)
cat > "$tmp/conf" <<EOF
scale_down_delay 1500
idle_timeout 4000
access_log 0
EOF
./prescal -f "$tmp/conf" -l "127.0.0.1:$lport" -a "127.0.0.1:$aport" -i "$image" -p 8080 \
	-m 0 -M 3 -c 2 -n "$set_name" 2>"$tmp/prescal.log" &
pp=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$aport/healthz" || [ $i -ge 50 ]; do
	sleep 0.1; i=$((i + 1))
done
if ! curl -s -o /dev/null "http://127.0.0.1:$aport/healthz"; then
	echo "FAILED: prescal's admin endpoint did not come up:"
	cat "$tmp/prescal.log"
	exit 1
fi
sleep 3  # some history at zero before the load

# the load: six clients, each a request of 300 ms after the other, for 10 s;
# then two of them go on for 8 s with requests of 2.5 s, so that the scale
# down drains an instance with a request in flight
t0=$(date +%s)
for c in 1 2 3 4 5 6; do
	( while [ "$(date +%s)" -lt $((t0 + 10)) ]; do
		curl -s -o /dev/null -m 40 "http://127.0.0.1:$lport/slow?ms=300"
	  done
	  while [ "$c" -le 2 ] && [ "$(date +%s)" -lt $((t0 + 18)) ]; do
		curl -s -o /dev/null -m 40 "http://127.0.0.1:$lport/slow?ms=2500"
	  done ) &
	loads="$loads $!"
done
sleep 7
url="http://127.0.0.1:$aport/"
browse a --window-size=1200,900 --screenshot="$out/peak.png" "$url" >/dev/null
wait $loads
loads=
# after the load: scale down one at a time, then the idle timeout
i=0
until curl -s "http://127.0.0.1:$aport/status" | grep -q '"want":0,"ready":0,"starting":0,"draining":0' ||
	[ $i -ge 30 ]; do
	sleep 1; i=$((i + 1))
done
sleep 2

# the DOM after the script ran (one refresh at 3 s within the budget)
browse b --virtual-time-budget=5000 --dump-dom "$url" > "$out/page.dom.html"
browse c --window-size=1200,900 --screenshot="$out/light.png" "$url" >/dev/null
browse d --force-dark-mode --blink-settings=preferredColorScheme=0 --window-size=1200,900 \
	--screenshot="$out/dark.png" "$url" >/dev/null
browse e --window-size=390,1100 --screenshot="$out/phone.png" "$url" >/dev/null
curl -s -o "$out/page.html" "$url"
curl -s -o "$out/status.json" "${url}status?history=1"
echo "page: $(wc -c < "$out/page.html") bytes; /status?history=1: $(wc -c < "$out/status.json") bytes"

dom="$out/page.dom.html"
grep -q '<svg class="plot"' "$dom" && ok "the page has the plot" || bad "no <svg class=\"plot\">"
grep -q '<body data-refreshed="[1-9]' "$dom" && ok "the page refreshed itself in place" ||
	bad "the script did not refresh the page"
# the ready instances as drawn: the y of each step (100 = none; up = more)
ys=$(sed -n 's/.*<path class="a-ready" d="\([^"]*\)".*/\1/p' "$dom" | head -n 1 |
	sed 's/M[0-9]* 100//; s/V100Z$//; s/H[0-9]*//g' | tr 'V' '\n' | awk 'NF' | tr '\n' ' ')
echo "ready instances, y of each step: $ys"
first=$(echo "$ys" | awk '{ print $1 }')
top=$(echo "$ys" | tr ' ' '\n' | awk 'NF' | sort -n | head -n 1)
last=$(echo "$ys" | awk '{ print $NF }')
[ "${first:-0}" = 100 ] && ok "the plot starts at zero instances" ||
	bad "the first ready step is at y=$first, not 100"
[ -n "$top" ] && [ "$top" -lt 100 ] && ok "the ready instances rise (highest step y=$top)" ||
	bad "no rise in the ready instances"
[ "${last:-0}" = 100 ] && ok "and fall back to zero" || bad "the last ready step is y=$last"
rises=$(echo "$ys" | awk '{ n = 0; for (i = 2; i <= NF; i++) if ($i < $(i - 1)) n++; print n }')
[ "${rises:-0}" -ge 1 ] && ok "$rises rising step(s)" || bad "no rising step"
n=$(grep -o '<g class="ev"><title>[^<]*scale up 0 &rarr; [0-9]' "$dom" | wc -l)
[ "$n" -ge 1 ] || n=$(grep -o '<g class="ev"><title>[^<]*scale up 0 → [0-9]' "$dom" | wc -l)
[ "$n" -ge 1 ] && ok "a scale-up from zero is marked, with its reason" ||
	bad "no scale-up from zero marked"
grep -q '<g class="ev"><title>[^<]*scale down [^<]*idle for' "$dom" &&
	ok "the scale-down to zero is marked (idle)" || bad "no idle scale-down marked"
grep -q 'in-flight [0-9]*, target 2' "$dom" && ok "reasons name the load and the target" ||
	bad "no reason with the load"
grep -q 'class="l-held"' "$dom" && ok "held requests are plotted" || bad "no held line"
# draining shows only if a sample fell into a drain: said, not required
grep -o '"draining":\[[0-9,]*\]' "$out/status.json" | grep -q '[1-9]' &&
	echo "(a draining instance was sampled)" || echo "(no draining instance was sampled)"
grep -Eq 'src=|href=|@import|url\(' "$out/page.html" && bad "the page fetches something" ||
	ok "the page is self-contained"
for f in peak light dark phone; do
	[ -s "$out/$f.png" ] && ok "screenshot $out/$f.png" || bad "no screenshot $f"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
