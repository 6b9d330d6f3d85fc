#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/sanitize.sh: the integration suites against prescal-asan (ASan +
# UBSan; any report fails the run), the core suite against prescal-tsan,
# the pool tests under TSan, and tests/memcheck.sh (valgrind). Run by
# `make sanitize`. Every sanitizer writes its reports to files in one
# directory (log_path) and halts on the first; a file there fails the run.
# The tests stop their long-running prescal with SIGTERM, so that it exits
# and LeakSanitizer reports too. $SANITIZE_TESTS picks the ASan suites
# (default: all of them) and SANITIZE_ASAN_ONLY=1 skips TSan and memcheck.
set -u
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fail=0

export PRESCAL_BIN=./prescal-asan
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
suites=${SANITIZE_TESTS:-tests/config_test tests/integ_test tests/abuse_test tests/admin_integ_test tests/scale_integ_test tests/apps_test tests/fail_test tests/chaos_test}
for t in $suites; do
	echo "== $t (prescal-asan)"
	# the test binaries are sanitized too; their reports land there as well
	./$t || fail=1
done
# the exhaustion tests that measure no speed or memory (a sanitizer slows
# prescal down and fattens it)
for f in 'test_held*' 'test_tunnels*' 'test_emfile*'; do
	echo "== tests/exhaust_test $f (prescal-asan)"
	EXHAUST_FILTER=$f ./tests/exhaust_test || fail=1
done
if [ -n "$(find "$logs" -type f)" ]; then
	echo "FAILED: sanitizer reports:"
	find "$logs" -type f -exec cat {} + | head -80
	fail=1
else
	echo "prescal-asan: no ASan/LSan/UBSan report"
fi
if [ "${SANITIZE_ASAN_ONLY:-0}" = 1 ]; then
	[ "$fail" -eq 0 ] && echo "sanitize (ASan only): passed" || echo "sanitize (ASan only): FAILED"
	exit "$fail"
fi

# tests/tsan.supp hides the arm() hand-over race and nothing else: of the
# same race made from arm() and from rearm(), only rearm's is reported
echo "== tests/tsan_supp_test"
mkdir "$logs/supp"
TSAN_OPTIONS="log_path=$logs/supp/tsan:suppressions=tests/tsan.supp" ./tests/tsan_supp_test
n=$(cat "$logs"/supp/* 2>/dev/null | grep -c 'WARNING: ThreadSanitizer')
if [ "$n" -eq 1 ] && grep -q ' rearm ' "$logs"/supp/* && ! grep -q ' arm ' "$logs"/supp/*; then
	echo "tests/tsan.supp: suppresses the race in arm() only"
else
	echo "FAILED: tests/tsan.supp: $n reports (want 1, from rearm() and not arm()):"
	cat "$logs"/supp/* 2>/dev/null | head -40
	fail=1
fi
rm -rf "$logs/supp"

# the core suite once more against a TSan prescal
echo "== tests/integ_test (prescal-tsan)"
PRESCAL_BIN=./prescal-tsan ASAN_OPTIONS= UBSAN_OPTIONS= \
	TSAN_OPTIONS="log_path=$logs/tsan:suppressions=tests/tsan.supp" ./tests/integ_test || fail=1
# held requests and tunnels cross threads: under TSan too
for f in 'test_held*' 'test_tunnels*'; do
	echo "== tests/exhaust_test $f (prescal-tsan)"
	PRESCAL_BIN=./prescal-tsan ASAN_OPTIONS= UBSAN_OPTIONS= EXHAUST_FILTER=$f \
		TSAN_OPTIONS="log_path=$logs/tsan:suppressions=tests/tsan.supp" ./tests/exhaust_test || fail=1
done
# many apps: routing and reloads under TSan (the route table swap, app
# references, the settings an admin thread reads)
for f in 'test_routing' 'test_reload_b*'; do
	echo "== tests/apps_test $f (prescal-tsan)"
	PRESCAL_BIN=./prescal-tsan ASAN_OPTIONS= UBSAN_OPTIONS= INTEG_FILTER=$f \
		TSAN_OPTIONS="log_path=$logs/tsan:suppressions=tests/tsan.supp" ./tests/apps_test || fail=1
done
if [ -n "$(find "$logs" -name 'tsan*' -type f)" ]; then
	echo "FAILED: ThreadSanitizer reports from prescal-tsan:"
	find "$logs" -name 'tsan*' -type f -exec cat {} + | head -80
	fail=1
else
	echo "prescal-tsan: no ThreadSanitizer report"
fi

echo "== tests/pool_test-tsan"
TSAN_OPTIONS="halt_on_error=1" ./tests/pool_test-tsan || fail=1

echo "== tests/memcheck.sh"
sh tests/memcheck.sh || fail=1

[ "$fail" -eq 0 ] && echo "sanitize: 1 passed, 0 failed" || echo "sanitize: 0 passed, 1 failed"
exit "$fail"
