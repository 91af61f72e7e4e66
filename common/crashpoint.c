/* crashpoint: parses CRR_CRASHPOINT once (function-local state; crash points
 * are called from one thread per process) and counts calls of the named
 * point; parses CRR_PAUSEPOINT once (pthread_once: any thread) and holds a
 * thread at the named pause point until its file exists; parses
 * CRR_FAILPOINT once (pthread_once) and fails the n-th pass through the
 * named fail point. */
#include "crashpoint.h"

#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
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

static char s_fail_name[64];     /* the armed fail point ("" = none) */
static long s_fail_target = 1;   /* which pass fails */
static atomic_long s_fail_calls; /* passes through the armed point so far */
static pthread_once_t s_fail_once = PTHREAD_ONCE_INIT;

static void s_fail_parse(void)
{
    const char *v = getenv("CRR_FAILPOINT");
    if (!v || !*v)
        return;
    snprintf(s_fail_name, sizeof s_fail_name, "%s", v);
    char *colon = strchr(s_fail_name, ':');
    if (colon) {
        *colon = '\0';
        s_fail_target = strtol(colon + 1, NULL, 10);
        if (s_fail_target < 1)
            s_fail_target = 1;
    }
}

int crr_failpoint(const char *name)
{
    pthread_once(&s_fail_once, s_fail_parse);
    if (!s_fail_name[0] || strcmp(name, s_fail_name) != 0)
        return 0;
    long call = atomic_fetch_add(&s_fail_calls, 1) + 1;
    if (call != s_fail_target)
        return 0;
    CRR_WARN("fail point %s reached (call %ld)", name, call);
    return 1;
}
