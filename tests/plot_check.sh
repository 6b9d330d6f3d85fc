#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/plot_check.sh (make plot-check): the admin page in headless Chromium
# with three apps during a scale-from-zero episode: "web" scales the test
# backend image from zero (max 3, target 2), "api" keeps one instance of
# it (min 1), "static" is a local backend. A few curl loops load web for a
# while and stop; then the page's DOM (after its script ran) must show a
# section per app with its backends, web's own instances plot rising from
# 0 with its scale decisions marked with their reasons, and falling again
# after the drain. Screenshots (at the peak: peak.png, and tall.png of the
# whole page; then light, dark, phone width) go to $PLOT_OUT (default
# /tmp/prescal-plot) for a person to look at. $PLOT_PREFIX prefixes the
# app (and container) names, $PLOT_IMAGE names the image it builds.
# Needs dockerd and Debian's chromium; without either it skips loudly, or
# fails when PRESCAL_REQUIRE_DOCKER=1. Takes about 45 s.
set -u
cd "$(dirname "$0")/.."

out=${PLOT_OUT:-/tmp/prescal-plot}
prefix=${PLOT_PREFIX:-pplot$$-}
web=${prefix}web api=${prefix}api static=${prefix}static
image=${PLOT_IMAGE:-prescal-plot-backend:latest}
pass=0 fail=0 pp= sp= loads=
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
	for p in $pp $sp; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for a in "$web" "$api"; do
		ids=$(docker ps -aq --filter "label=prescal.name=$a" 2>/dev/null)
		[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
	done
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
sport=$(free_port 3)
./tests/backend-static -p "$sport" >/dev/null 2>&1 &
sp=$!
cat > "$tmp/conf" <<EOF
access_log 0
scale_down_delay 1500
idle_timeout 4000
port 8080
app $web
host web.localhost
image $image
min 0
max 3
target 2
app $api
host api.localhost
image $image
min 1
max 2
app $static
host static.localhost
backend 127.0.0.1:$sport
EOF
./prescal -f "$tmp/conf" -l "127.0.0.1:$lport" -a "127.0.0.1:$aport" 2>"$tmp/prescal.log" &
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
		curl -s -o /dev/null -m 40 -H "Host: web.localhost" "http://127.0.0.1:$lport/slow?ms=300"
	  done
	  while [ "$c" -le 2 ] && [ "$(date +%s)" -lt $((t0 + 18)) ]; do
		curl -s -o /dev/null -m 40 -H "Host: web.localhost" "http://127.0.0.1:$lport/slow?ms=2500"
	  done ) &
	loads="$loads $!"
done
for i in 1 2 3; do
	curl -s -o /dev/null -H "Host: api.localhost" "http://127.0.0.1:$lport/"
	curl -s -o /dev/null -H "Host: static.localhost" "http://127.0.0.1:$lport/"
done
sleep 5
url="http://127.0.0.1:$aport/"
curl -s -o "$out/peak.html" "$url"
browse t --window-size=1200,2000 --hide-scrollbars --screenshot="$out/tall.png" "$url" >/dev/null
browse a --window-size=1200,900 --screenshot="$out/peak.png" "$url" >/dev/null
wait $loads
loads=
# after the load: scale down one at a time, then the idle timeout
i=0
until curl -s "http://127.0.0.1:$aport/status" |
	grep -q "\"set\":\"$web\",\"min\":0,\"max\":3,\"target\":2,\"want\":0,\"ready\":0,\"starting\":0,\"draining\":0" ||
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
# one app's section of a page: from its heading to the end of its section
section() {
	awk -v h="<h2>App <span class=\"an\">$1</span></h2>" \
		'index($0, h) { on = 1 } on { print } on && /<\/section>/ { exit }' "$2"
}
section "$web" "$dom" > "$tmp/web.html"
section "$api" "$dom" > "$tmp/api.html"
section "$static" "$dom" > "$tmp/static.html"
section "$web" "$out/peak.html" > "$tmp/webpeak.html"
n=$(grep -c '<section class="app">' "$dom")
[ "$n" = 3 ] && ok "a section for each of the 3 apps" || bad "$n app sections, not 3"
grep -q '<h2>All apps</h2>' "$dom" && ok "the plot of all apps" || bad "no plot of all apps"
grep -q '<svg class="plot"' "$tmp/web.html" && ok "web has its own plot" ||
	bad "no <svg class=\"plot\"> in web's section"
grep -q '<svg class="plot"' "$tmp/static.html" && bad "the static app has a plot" ||
	ok "the static app has no plot of its own"
n=$(grep -c '<span class="st up">up</span>' "$tmp/webpeak.html")
[ "$n" -ge 1 ] && ok "at the peak web lists $n ready instance(s)" ||
	bad "no ready instance in web's section at the peak"
grep -q 'image <b>'"$image"'</b>, 1&ndash;2 instances\|image <b>'"$image"'</b>, 1–2 instances' \
	"$tmp/api.html" && ok "api's scaler line" || bad "no scaler line for api"
# (the DOM closes the cells the page leaves open)
grep -q "<td>$api-[0-9]*</td><td>[0-9a-f]\{12\}</td><td><span class=\"st up\">" "$tmp/api.html" &&
	ok "api lists its running instance with its container" || bad "no running instance of api"
grep -q "<td>127.0.0.1:$sport</td><td>-</td><td><span class=\"st up\">" "$tmp/static.html" &&
	ok "static lists its backend" || bad "no backend in the static app's section"
grep -q '<body data-refreshed="[1-9]' "$dom" && ok "the page refreshed itself in place" ||
	bad "the script did not refresh the page"
# web's ready instances as drawn: the y of each step (100 = none; up = more)
ys=$(sed -n 's/.*<path class="a-ready" d="\([^"]*\)".*/\1/p' "$tmp/web.html" | head -n 1 |
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
n=$(grep -o '<g class="ev"><title>[^<]*scale up 0 &rarr; [0-9]' "$tmp/web.html" | wc -l)
[ "$n" -ge 1 ] || n=$(grep -o '<g class="ev"><title>[^<]*scale up 0 → [0-9]' "$tmp/web.html" | wc -l)
[ "$n" -ge 1 ] && ok "a scale-up from zero is marked, with its reason" ||
	bad "no scale-up from zero marked"
grep -q '<g class="ev"><title>[^<]*scale down [^<]*idle for' "$tmp/web.html" &&
	ok "the scale-down to zero is marked (idle)" || bad "no idle scale-down marked"
grep -q 'in-flight [0-9]*, target 2' "$tmp/web.html" && ok "reasons name the load and the target" ||
	bad "no reason with the load"
grep -q 'class="l-held"' "$tmp/web.html" && ok "held requests are plotted" || bad "no held line"
# draining shows only if a sample fell into a drain: said, not required
grep -o '"draining":\[[0-9,]*\]' "$out/status.json" | grep -q '[1-9]' &&
	echo "(a draining instance was sampled)" || echo "(no draining instance was sampled)"
grep -Eq 'src=|href=|@import|url\(' "$out/page.html" && bad "the page fetches something" ||
	ok "the page is self-contained"
for f in peak tall light dark phone; do
	[ -s "$out/$f.png" ] && ok "screenshot $out/$f.png" || bad "no screenshot $f"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
