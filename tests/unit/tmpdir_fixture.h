/* tmpdir_fixture: one fresh folder per test, for unit tests that work on
 * files (reader, seen, rejects). FX_TMPDIR_FIXTURE(name) defines the folder
 * path s_dir and the cmocka setup/teardown that make /tmp/test_<name>.XXXXXX
 * and remove it with everything in it. Owns nothing else. */
#ifndef CRR_TMPDIR_FIXTURE_H
#define CRR_TMPDIR_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#define FX_TMPDIR_FIXTURE(name)                                                                    \
    static char s_dir[64];                                                                         \
                                                                                                   \
    static int setup(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        snprintf(s_dir, sizeof s_dir, "/tmp/test_" name ".XXXXXX");                                \
        return mkdtemp(s_dir) ? 0 : -1;                                                            \
    }                                                                                              \
                                                                                                   \
    static int teardown(void **state)                                                              \
    {                                                                                              \
        (void)state;                                                                               \
        char cmd[128];                                                                             \
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);                                           \
        return system(cmd);                                                                        \
    }

#endif
