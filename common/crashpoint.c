/* crashpoint: parses CRR_CRASHPOINT once (function-local state; crash points
 * are called from one thread per process) and counts calls of the named
 * point; parses CRR_PAUSEPOINT once (pthread_once: any thread) and holds a
 * thread at the named pause point until its file exists. */
#include "crashpoint.h"

#include "log.h"

#include <pthread.h>
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

static char s_pause_name[64];   /* the armed pause point ("" = none) */
static char s_pause_file[4096]; /* the file that releases it */
static pthread_once_t s_pause_once = PTHREAD_ONCE_INIT;

static void s_pause_parse(void)
{
    const char *v = getenv("CRR_PAUSEPOINT");
    const char *colon = v ? strchr(v, ':') : NULL;
    if (!colon || colon == v || !colon[1] || (size_t)(colon - v) >= sizeof s_pause_name)
        return;
    snprintf(s_pause_name, sizeof s_pause_name, "%.*s", (int)(colon - v), v);
    snprintf(s_pause_file, sizeof s_pause_file, "%s", colon + 1);
}

void crr_pausepoint(const char *name)
{
    pthread_once(&s_pause_once, s_pause_parse);
    if (!s_pause_name[0] || strcmp(name, s_pause_name) != 0 || access(s_pause_file, F_OK) == 0)
        return;
    CRR_WARN("pause point %s: waiting for %s", name, s_pause_file);
    struct timespec ts = {0, 20 * 1000000L};
    while (access(s_pause_file, F_OK) != 0)
        nanosleep(&ts, NULL);
    CRR_WARN("pause point %s: released", name);
}
