#!/bin/sh
# See LICENSE file for copyright and license details.
# tests/sanitize.sh: the integration suites against prescal-asan (ASan +
# UBSan; any report fails the run), the core suite against prescal-tsan,
# the pool tests under TSan, and tests/memcheck.sh (valgrind). Run by
# `make sanitize`.
set -u
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fail=0

export PRESCAL_BIN=./prescal-asan
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
for t in tests/config_test tests/integ_test tests/abuse_test tests/admin_integ_test tests/scale_integ_test tests/fail_test tests/chaos_test; do
	echo "== $t (prescal-asan)"
	# the test binaries are sanitized too; their reports land there as well
	./$t || fail=1
done
if [ -n "$(find "$logs" -type f)" ]; then
	echo "FAILED: sanitizer reports:"
	find "$logs" -type f -exec cat {} + | head -80
	fail=1
else
	echo "prescal-asan: no ASan/UBSan report"
fi

# the core suite once more against a TSan prescal
echo "== tests/integ_test (prescal-tsan)"
PRESCAL_BIN=./prescal-tsan ASAN_OPTIONS= UBSAN_OPTIONS= \
	TSAN_OPTIONS="log_path=$logs/tsan:suppressions=tests/tsan.supp" ./tests/integ_test || fail=1
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
