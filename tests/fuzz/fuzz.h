/* fuzz: the contract between a fuzz target and its drivers. Each
 * tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput; it is linked
 * either with libFuzzer (-DCRR_FUZZ=ON, clang) or with replay_main.c, which
 * replays the committed corpus plus deterministic mutations of it on every
 * ctest run (label fuzz), SQLite-fuzzcheck style. A target must accept any
 * bytes without crashing, leaking or tripping a sanitizer. */
#ifndef CRR_FUZZ_H
#define CRR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
