/* cmd_indicators: `crrmon indicators`, the indicator catalogue. */
#ifndef CRR_CMD_INDICATORS_H
#define CRR_CMD_INDICATORS_H

/* Runs `crrmon indicators [--json]`; argv[0] is "indicators". Prints the
 * catalogue (state/indicators.h): name, stat, dimensions, event type and
 * description, as a table or one JSON object per line. Needs no data folder.
 * Returns the exit code: 0, 1 (write error), 64 (bad usage). */
int crr_cmd_indicators(int argc, char **argv);

#endif
