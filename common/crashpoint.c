/* crashpoint: parses CRR_CRASHPOINT once (function-local state; crash points
 * are called from one thread per process) and counts calls of the named
 * point. */
#include "crashpoint.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void crr_crashpoint(const char *name)
{
    static int parsed;      /* CRR_CRASHPOINT read */
    static char want[64];   /* the armed point's name ("" = none) */
    static long target = 1; /* which call crashes */
    static long calls;      /* calls of the armed point so far */
    if (!parsed) {
        parsed = 1;
        const char *v = getenv("CRR_CRASHPOINT");
        if (v && *v) {
            snprintf(want, sizeof want, "%s", v);
            char *colon = strchr(want, ':');
            if (colon) {
                *colon = '\0';
                target = strtol(colon + 1, NULL, 10);
                if (target < 1)
                    target = 1;
            }
        }
    }
    if (!want[0] || strcmp(name, want) != 0 || ++calls < target)
        return;
    CRR_WARN("crash point %s reached (call %ld): exiting with %d", name, calls,
             CRR_CRASHPOINT_EXIT);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    _exit(CRR_CRASHPOINT_EXIT);
}
