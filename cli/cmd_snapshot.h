/* cmd_snapshot: `crrmon snapshot`, a snapshot taken now by a running aggregator. */
#ifndef CRR_CMD_SNAPSHOT_H
#define CRR_CMD_SNAPSHOT_H

/* Runs `crrmon snapshot (--http [https://]HOST:PORT | --data-dir AGGDIR) [--json]
 * [--timeout DURATION] [--user USER] [--cacert FILE]`; argv[0] is
 * "snapshot". --user sends HTTP Basic credentials (the password from
 * $CRRMON_HTTP_PASSWORD, else one line of stdin); --cacert (or https://)
 * speaks TLS trusting that PEM certificate. POSTs /api/v1/snapshots
 * to the aggregator's HTTP API (libcurl) and prints "id ID" and "file PATH"
 * (with --json the server's answer as it came). Returns the exit code: 0, 1
 * (unreachable, HTTP error, answer without an id), 64 (bad usage). */
int crr_cmd_snapshot(int argc, char **argv);

#endif
