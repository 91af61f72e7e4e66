/* cmd_export: `crrmon export`, stored snapshots after they were taken:
 * writing one again, reviving dead deliveries. */
#ifndef CRR_CMD_EXPORT_H
#define CRR_CMD_EXPORT_H

/* Runs `crrmon export --data-dir AGGDIR --retry SINK`; argv[0] is "export".
 * Makes every dead delivery of sink instance SINK (state/outbox.h) pending
 * again with its attempts reset, in one LMDB write transaction beside the
 * running aggregator (whose delivery thread sees it within a second), and
 * prints how many. Returns the exit code: 0, 1 (store unwritable), 64, 78
 * (no store there).
 * `crrmon export --data-dir AGGDIR (--snapshot ID | --latest) [--format
 * jsonl|csv] [--out FILE]` writes a stored snapshot again, byte for byte as
 * that sink first wrote it, to FILE (temporary name, then rename) or stdout. */
int crr_cmd_export(int argc, char **argv);

#endif
