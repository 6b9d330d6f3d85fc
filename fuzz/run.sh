#!/bin/sh
# See LICENSE file for copyright and license details.
# fuzz/run.sh: builds every libFuzzer target with clang into fuzz/<name>_fuzz
# and runs each for FUZZ_SECONDS on a temporary copy of its corpus
# fuzz/corpus/<name>/ (the checked-in corpus never grows). Prints one line
# per target: "ok" or "crash", execs and coverage; libFuzzer's output goes
# to a log. A crash's reproducer is copied to fuzz/crashes/. Exits 1 if any
# target crashed or failed to build.
#
#	sh fuzz/run.sh [name...]     from the repository root; default: all
#
# FUZZ_SECONDS  seconds per target (60)
# FUZZ_JOBS     targets run at once (1)
# FUZZ_LOGS     directory for the logs (a new temporary directory)
# CLANG         compiler (clang)
# Reproduce a crash: ./fuzz/<name>_fuzz fuzz/crashes/<file>

cd "$(dirname "$0")/.." || exit 2

SECS=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
CLANG=${CLANG:-clang}
FLAGS="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 -std=c11
       -D_DEFAULT_SOURCE -D_GNU_SOURCE -I."
ALL="request response chunked json docker spec swarm"
LOGS=${FUZZ_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/prescal-fuzz.XXXXXX")} || exit 2
mkdir -p "$LOGS" || exit 2

# the module sources each target links, besides util.c
srcs() {
	case $1 in
	request|response|chunked) echo http.c ;;
	json) echo json.c ;;
	docker|spec) echo docker.c http.c json.c ;;
	swarm) echo swarm.c docker.c http.c json.c ;;
	*) return 1 ;;
	esac
}

build() {
	s=$(srcs "$1") || { echo "$1: no such target" >&2; return 1; }
	# shellcheck disable=SC2086
	$CLANG $FLAGS -o "fuzz/$1_fuzz" "fuzz/$1_fuzz.c" $s util.c \
		>"$LOGS/$1.build" 2>&1 || { echo "$1: build failed, see $LOGS/$1.build"; return 1; }
}

# runs one target; writes its summary line to $LOGS/$1.result
fuzz() {
	t=$1
	dir="$LOGS/$t.corpus"
	rm -rf "$dir" "$LOGS/$t.art"
	mkdir -p "$dir" "$LOGS/$t.art"
	[ -d "fuzz/corpus/$t" ] && cp "fuzz/corpus/$t/"* "$dir/" 2>/dev/null
	"./fuzz/${t}_fuzz" -max_total_time="$SECS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$LOGS/$t.art/" "$dir" >"$LOGS/$t.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOGS/$t.log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$LOGS/$t.log" | tail -n 1)
	art=$(ls "$LOGS/$t.art")
	if [ "$rc" -eq 0 ] && [ -z "$art" ]; then
		st=ok
	else
		st=crash
		mkdir -p fuzz/crashes
		for a in $art; do
			cp "$LOGS/$t.art/$a" "fuzz/crashes/$t-$a"
		done
	fi
	printf '%-9s %-5s execs %-10s %s\n' "$t" "$st" "${execs:-?}" "${cov:-cov: ?}" \
		>"$LOGS/$t.result"
	if [ "$st" = crash ]; then
		for a in $art; do
			echo "          reproducer fuzz/crashes/$t-$a" >>"$LOGS/$t.result"
		done
		grep -m 1 -E 'ERROR: |runtime error|Assertion|deadly signal' "$LOGS/$t.log" |
			sed 's/^/          /' >>"$LOGS/$t.result"
	fi
}

# shellcheck disable=SC2086
[ $# -gt 0 ] || set -- $ALL
fail=0
for t; do
	build "$t" || fail=1
done
[ "$fail" -eq 0 ] || exit 1

echo "fuzzing $* for ${SECS}s each, $JOBS at a time; logs in $LOGS"
running=0
for t; do
	fuzz "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait
		running=0
	fi
done
wait
for t; do
	cat "$LOGS/$t.result"
	grep -q '^[a-z]* *crash' "$LOGS/$t.result" && fail=1
done
exit "$fail"
