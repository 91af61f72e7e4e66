/* cmd_status: `crrmon status`, what an aggregator knows about its sources. */
#ifndef CRR_CMD_STATUS_H
#define CRR_CMD_STATUS_H

/* Runs `crrmon status --data-dir AGGDIR [--json]`; argv[0] is "status".
 * Opens AGGDIR/store read-only and prints one row per (source, epoch):
 * applied sequence, last seen (and how long ago), the spool depth the sender
 * last reported, events applied, duplicates and rejects; with --json one JSON
 * object per line. Returns the exit code: 0, 1 (store unreadable), 64. */
int crr_cmd_status(int argc, char **argv);

#endif
