#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Installs what is needed
# (deploy/deps.sh), checks the C formatting against .clang-format, builds
# with warnings as errors into build/, runs every
# CTest (unit, e2e, sink, fuzz replay), then builds again with ASan+UBSan into
# build-asan/ and runs the suite there too, and with TSan into build-tsan/ for
# the e2e tests and the sender (libzmq's own hand-offs are suppressed in
# tests/tsan.supp). Exits non-zero if anything fails.
#   CRR_SKIP_ASAN=1, CRR_SKIP_TSAN=1  skip a sanitizer pass (local fast loop)
#   CTEST_ARGS="-L unit"  pass extra arguments to ctest
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash deploy/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DCRR_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure --timeout 900 ${CTEST_ARGS:-}
}

echo "== format check (.clang-format)"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
else
  echo "not a git checkout: format check skipped"
fi

echo "== build and test (warnings are errors)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${CRR_SKIP_ASAN:-0}" != "1" ]; then
  echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCRR_SANITIZE=address,undefined
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ "${CRR_SKIP_TSAN:-0}" != "1" ]; then
  echo "== build and run the threaded parts under ThreadSanitizer (e2e and the sender)"
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$here/tests/tsan.supp"
  CTEST_ARGS="-L e2e ${CTEST_ARGS:-}" run_suite build-tsan -DCMAKE_BUILD_TYPE=Debug -DCRR_SANITIZE=thread
  ctest --test-dir build-tsan --output-on-failure -R unit_sender
fi
echo "== all tests passed"
