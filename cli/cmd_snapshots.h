/* cmd_snapshots: `crrmon snapshots`, the stored snapshots of an aggregator. */
#ifndef CRR_CMD_SNAPSHOTS_H
#define CRR_CMD_SNAPSHOTS_H

/* Runs `crrmon snapshots --data-dir AGGDIR [--json]`; argv[0] is "snapshots".
 * Opens AGGDIR/store read-only and prints one row per stored snapshot, in id
 * order: id, as_of, schedule (with "(catch-up)"), rows, and its deliveries
 * (done, pending, dead). Returns the exit code: 0, 1, 64, 78. */
int crr_cmd_snapshots(int argc, char **argv);

#endif
