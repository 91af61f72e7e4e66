/* client_send: a borough program that sends events with libcrrmon-client.
 *
 * Reads JSON Lines events (one crrmon.v1.Event per line, proto3 JSON) from
 * stdin, hands each to the client (validated and spooled durably), then
 * waits until the aggregator has acknowledged them all.
 *
 *   cc client_send.c $(pkg-config --cflags --libs crrmon-client) -o client_send
 *   ./client_send SPOOL_DIR ENDPOINT SOURCE_ID [KEY=VALUE...] < events.jsonl
 *
 * KEY=VALUE pairs are collector config keys (those of validating, spooling
 * and sending: see crr_client_set in crrmon/client.h), e.g.
 *   security.client_cert=/etc/crrmon/keys/b1_secret
 *   security.server_key=/etc/crrmon/keys/aggregator
 *   security.insecure=true     (plain TCP, for a test aggregator only)
 * Prints "sent N rejected M" and exits 0 once every event is acknowledged,
 * 1 on an error, 2 when some lines were invalid (the others were sent). */
#include <crrmon/client.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s SPOOL_DIR ENDPOINT SOURCE_ID [KEY=VALUE...] < events.jsonl\n",
                argv[0]);
        return 1;
    }
    char err[512];
    crr_client_t *c = crr_client_new(argv[1], argv[2], argv[3], err, sizeof err);
    if (!c) {
        fprintf(stderr, "client_send: %s\n", err);
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        int rc = CRR_CLIENT_EINVAL;
        if (eq) {
            *eq = '\0';
            rc = crr_client_set(c, argv[i], eq + 1);
        }
        if (rc) {
            fprintf(stderr, "client_send: %s: %s\n", argv[i], crr_client_strerror(rc));
            crr_client_destroy(&c);
            return 1;
        }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long sent = 0, rejected = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        rc = crr_client_send_json(c, line, (size_t)len);
        while (rc == CRR_CLIENT_EFULL) { /* the spool is full: let Acks free room */
            if ((rc = crr_client_flush(c, 60000)) == 0)
                rc = crr_client_send_json(c, line, (size_t)len);
        }
        if (rc == CRR_CLIENT_EREJECT) {
            rejected++;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        sent++;
    }
    free(line);
    if (rc == 0)
        rc = crr_client_flush(c, 60000);
    crr_client_destroy(&c);
    if (rc) {
        fprintf(stderr, "client_send: %s\n", crr_client_strerror(rc));
        return 1;
    }
    printf("sent %ld rejected %ld\n", sent, rejected);
    return rejected ? 2 : 0;
}
