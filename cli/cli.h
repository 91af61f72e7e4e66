/* cli: helpers every `crrmon` subcommand shares: the exit codes, usage
 * errors, reading an aggregator's endpoints.json, and option parsing helpers.
 *
 * Exit codes (cfg.h, the same for every subcommand and binary):
 *   0  success
 *   1  runtime failure (a clear message on stderr)
 *   2  `crrmon send`: some input was rejected (the rest was sent)
 *   64 bad usage (EX_USAGE; a message and a hint on stderr)
 *   78 a named folder or file is missing or unusable (EX_CONFIG)
 * Nothing here keeps state between calls. */
#ifndef CRR_CLI_H
#define CRR_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "cfg.h" /* CRR_EXIT_*: the exit codes every binary shares */

/* Prints "crrmon <cmd>: <message>" and a "try crrmon <cmd> --help" hint on
 * stderr. Returns CRR_EXIT_USAGE so callers can `return crr_cli_usage(...)`. */
int crr_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "crrmon <cmd>: <message>" on stderr. Returns CRR_EXIT_FAIL. */
int crr_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "crrmon <cmd>: <message>" on stderr. Returns CRR_EXIT_CONFIG: a data
 * folder or file named on the command line is missing or unusable. */
int crr_cli_config(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Two options that say the same thing were both given: prints which one to
 * drop ("--http X and --data-dir Y both say where the aggregator is: drop
 * --data-dir to use --http X, or --http to read Y/endpoints.json") where
 * what is "where the aggregator is" and each choice is explained by its
 * "use_a"/"use_b" text. Returns CRR_EXIT_USAGE. */
int crr_cli_conflict(const char *cmd, const char *a, const char *a_value, const char *b,
                     const char *b_value, const char *what, const char *use_a, const char *use_b);

/* Reads key ("ingest", "feed", "http") from DATA_DIR/endpoints.json, the file
 * the aggregator writes with the endpoints it actually bound. The value is
 * copied into buf (len bytes). An "http" value is returned as HOST:PORT
 * (a leading "http://" and trailing "/" are dropped). Returns 0, -errno when
 * the file cannot be read, CRR_EPARSE when it is not JSON, CRR_ENOTFOUND when
 * the key is missing, CRR_ETOOBIG when buf is too small. */
int crr_cli_endpoint(const char *data_dir, const char *key, char *buf, size_t len);

/* Parses a non-negative decimal integer (the whole string). 0 or CRR_EPARSE. */
int crr_cli_parse_u64(const char *s, uint64_t *out);

/* An aligned text table: rows are collected, then printed with each column
 * as wide as its widest cell (the last column is not padded). Cells are
 * copied. */
typedef struct crr_cli_table crr_cli_table_t;

/* Creates a table of ncols columns titled headers[0..ncols). Returns 0 and
 * *out, or -ENOMEM. */
int crr_cli_table_new(size_t ncols, const char *const *headers, crr_cli_table_t **out);
/* Appends one row of ncols cells (NULL cells print as "-"). 0 or -ENOMEM. */
int crr_cli_table_add(crr_cli_table_t *t, const char *const *cells);
/* Number of rows added so far. */
size_t crr_cli_table_rows(const crr_cli_table_t *t);
/* Prints the header and every row; columns whose bit is set in right_mask
 * (bit i = column i) are right-aligned (numbers). */
void crr_cli_table_print(const crr_cli_table_t *t, FILE *out, unsigned right_mask);
/* Frees *t and nulls it; safe twice. */
void crr_cli_table_destroy(crr_cli_table_t **t);

/* Resets getopt so that a subcommand can parse its own argv. */
void crr_cli_getopt_reset(void);

/* The tail of every subcommand's getopt_long switch (optstring starting with
 * ':'), for the answers o it does not handle itself: 'h' (--help) prints
 * usage(stdout) and returns CRR_EXIT_OK; ':' (an option given without its
 * value) prints "<option> needs a value", anything else "unknown option
 * '<option>'", both as crr_cli_usage, returning CRR_EXIT_USAGE. The option
 * is argv[optind - 1], as getopt_long leaves it. */
int crr_cli_getopt_tail(const char *cmd, int o, char **argv, void (*usage)(FILE *out));

#endif
