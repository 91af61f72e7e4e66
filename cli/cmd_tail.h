/* cmd_tail: `crrmon tail`, the live feed in a terminal. */
#ifndef CRR_CMD_TAIL_H
#define CRR_CMD_TAIL_H

/* Runs `crrmon tail (--feed ENDPOINT | --data-dir AGGDIR) [--state ENDPOINT]
 * [--borough CODE] [--indicator NAME] [--json] [--client-cert FILE
 * --server-key FILE | --insecure]`; argv[0] is "tail". Joins the feed as a
 * late joiner (the Clone pattern: subscribe, fetch the state, drop updates
 * the state already holds), prints the state and then each update, one line
 * each, until SIGINT/SIGTERM. Returns the exit code: 0 (stopped by a
 * signal), 1 (a socket failed), 64 (bad usage), 78 (keys or endpoints.json
 * unusable). */
int crr_cmd_tail(int argc, char **argv);

#endif
