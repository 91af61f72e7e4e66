/* cmd_rejects: `crrmon rejects`, the rejected events kept in a data folder. */
#ifndef CRR_CMD_REJECTS_H
#define CRR_CMD_REJECTS_H

/* Runs `crrmon rejects --data-dir DIR [--json] [--limit N]`; argv[0] is
 * "rejects". DIR is an aggregator's data folder (DIR/store) or a collector's
 * (DIR/spool), whichever exists; opened read-only. Prints the N most recent
 * rejects (default 100, 0 = all), oldest first: an aligned table (id, at,
 * source, seq, file:line, field, code, reason), or with --json the stored
 * JSON objects one per line. Returns the exit code: 0, 1 (folder or store
 * unreadable), 64 (bad usage). */
int crr_cmd_rejects(int argc, char **argv);

#endif
