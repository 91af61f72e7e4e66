/* notify: the service manager's readiness protocol, through libsystemd's
 * sd_notify (Debian's libsystemd0). Owns nothing: each call formats one
 * message and sends it when NOTIFY_SOCKET is set. */
#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void s_send(const char *state, const char *status)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s\nSTATUS=%s", state, status ? status : "");
    (void)sd_notify(0, msg);
}

void crr_notify_ready(const char *status)
{
    s_send("READY=1", status);
}

void crr_notify_reloading(const char *status)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char state[96];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    s_send(state, status);
}

void crr_notify_stopping(const char *status)
{
    s_send("STOPPING=1", status);
}
