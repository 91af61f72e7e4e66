/* client_typed: the C side of tests/e2e/test_clientlib.py for the typed call:
 * builds N Events in C (racist_incident, count 1, borough argv[4]) and sends
 * them with crr_client_send_event through the shared libcrrmon-client, then
 * flushes, and checks that crr_client_set is refused from then on. The Event descriptors come from
 * the test's own protobuf-c code (crr_proto), as a borough's generated code would. client_typed
 * SPOOL_DIR ENDPOINT SOURCE_ID BOROUGH N [KEY=VALUE...] Exit 0 when every event is acknowledged, 1
 * otherwise (message on stderr). */
#include "crrmon/client.h"
#include "crrmon/v1/event.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 6)
        return 1;
    char err[256];
    crr_client_t *c = crr_client_new(argv[1], argv[2], argv[3], err, sizeof err);
    if (!c) {
        fprintf(stderr, "client_typed: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (int i = 6; i < argc && rc == 0; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            return 1;
        *eq = '\0';
        rc = crr_client_set(c, argv[i], eq + 1);
    }
    long n = atol(argv[5]);
    for (long i = 0; i < n && rc == 0; i++) {
        Crrmon__V1__Event e = CRRMON__V1__EVENT__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        Crrmon__V1__RacistIncident ri = CRRMON__V1__RACIST_INCIDENT__INIT;
        ts.seconds = 1769940000 + i * 60; /* 2026-02-01T10:00:00Z onwards */
        ri.count = 1;
        e.borough = argv[4];
        e.occurred_at = &ts;
        e.body_case = CRRMON__V1__EVENT__BODY_RACIST_INCIDENT;
        e.racist_incident = &ri;
        rc = crr_client_send_event(c, &e);
    }
    if (rc == 0)
        rc = crr_client_flush(c, 60000);
    if (rc == 0 && crr_client_set(c, "sender.window", "4") != CRR_CLIENT_ESTARTED) {
        fprintf(stderr, "client_typed: crr_client_set after the first send was not refused\n");
        rc = CRR_CLIENT_EINVAL;
    }
    crr_client_destroy(&c);
    if (rc)
        fprintf(stderr, "client_typed: %s\n", crr_client_strerror(rc));
    return rc ? 1 : 0;
}
