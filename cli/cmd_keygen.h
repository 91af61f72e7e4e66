/* cmd_keygen: `crrmon keygen`, a CURVE certificate pair for a collector,
 * a client or the aggregator. */
#ifndef CRR_CMD_KEYGEN_H
#define CRR_CMD_KEYGEN_H

/* Runs `crrmon keygen NAME [--borough CODE[,CODE...]]`; argv[0] is "keygen".
 * Writes NAME (public certificate, metadata name and borough) and
 * NAME_secret (mode 0600) in the zcert text format; never overwrites.
 * Returns the exit code: 0, 64 (usage, a bad borough code), 78 (a file
 * exists or cannot be written). */
int crr_cmd_keygen(int argc, char **argv);

#endif
