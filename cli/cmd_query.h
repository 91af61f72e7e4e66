/* cmd_query: `crrmon query`, indicators computed from an aggregator's store. */
#ifndef CRR_CMD_QUERY_H
#define CRR_CMD_QUERY_H

/* Runs `crrmon query --data-dir AGGDIR [--borough CODE | --london]
 * [--window 90d] [--indicator NAME] [--as-of DATE] [--population CSV]
 * [--json | --csv]`; argv[0] is "query". Opens AGGDIR/store read-only
 * (state/store.h) and computes the rows with crr_indicators_compute.
 * Output: an aligned table (default), JSON Lines (one IndicatorValue per line,
 * proto3 JSON with defaults) or CSV with a header row. Returns the exit code:
 * 0, 1 (store unreadable), 64 (bad usage). */
int crr_cmd_query(int argc, char **argv);

#endif
