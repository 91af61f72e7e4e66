/* cmd_send: `crrmon send`, JSONL events sent straight to an aggregator. */
#ifndef CRR_CMD_SEND_H
#define CRR_CMD_SEND_H

/* Runs `crrmon send [--aggregator ENDPOINT | --data-dir AGGDIR]
 * [--source-id ID] [--give-up-after D] FILE...|-`; argv[0] is "send".
 * Reads every line of the inputs (JSON Lines, proto3 JSON Events; "-" is
 * stdin), parses and validates each at the edge (bad lines are reported on
 * stderr as FILE:LINE: field: reason and not sent), then sends the rest to
 * the aggregator with the sender module under a fresh random epoch, and waits
 * until every event is acknowledged (durable). Events the aggregator rejects
 * are reported the same way.
 * Returns the exit code: 0 every line sent and accepted; 2 some line or event
 * was rejected (the rest were sent); 1 gave up (no progress for the
 * --give-up-after duration) or another runtime failure; 64 bad usage. */
int crr_cmd_send(int argc, char **argv);

#endif
