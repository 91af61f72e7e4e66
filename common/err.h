/* err: crrmon's error codes, crr_strerror() and the diagnostic record that
 * validators at the edges fill (file, line, field, reason).
 *
 * Convention: fallible functions return int, 0 on success and
 * negative on failure: -errno for system and zmq failures, CRR_E* (this file,
 * -1000..-1099) for our own, LMDB codes passed through unchanged. */
#ifndef CRR_ERR_H
#define CRR_ERR_H

#include <stddef.h>

enum {
    CRR_EINVAL = -1001,     /* bad argument or input */
    CRR_EPARSE = -1002,     /* input does not parse */
    CRR_ETOOBIG = -1003,    /* over a configured size limit */
    CRR_ELOCKED = -1004,    /* another process holds the data folder's lock */
    CRR_ESPOOLFULL = -1005, /* the spool reached its configured size */
    CRR_ECONFIG = -1006,    /* configuration error (details in the diag) */
    CRR_ENOTFOUND = -1007,  /* no such record */
    CRR_ETIMEOUT = -1008,   /* a deadline passed */
    CRR_EPROTO = -1009,     /* the peer broke the wire protocol */
    CRR_EREJECT = -1010,    /* input rejected (details in the diag) */
    /* damaged data files (common/lmdbx.c refuses them at open) */
    CRR_ETRUNCATED = -1020, /* an LMDB data file is shorter than its own meta page says */
    CRR_EEMPTY = -1021,     /* an LMDB data file is empty (0 bytes) */
    CRR_EVERSION = -1011,   /* an on-disk format newer than this build reads */
};

/* 1 when rc says a data file is damaged (CRR_ETRUNCATED, CRR_EEMPTY,
 * MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_VERSION_MISMATCH), else 0. */
int crr_err_bad_data(int rc);

/* Explains rc: a CRR_E* code, an LMDB code, -errno, or a positive errno (how
 * LMDB reports system errors: ENOSPC, EIO...). Returns a static string. */
const char *crr_strerror(int rc);

/* Where and why one piece of input was refused. `code` is a
 * Crrmon__V1__RejectCode value (0 when not a rejection). */
typedef struct crr_diag {
    char file[256];   /* input file name, "-" for stdin, "" when not from a file */
    long line;        /* 1-based line in file, 0 when unknown */
    char field[128];  /* proto field path at fault (e.g. stop_search.outcome), "" if none */
    int code;         /* Crrmon__V1__RejectCode */
    char reason[512]; /* human-readable reason */
} crr_diag_t;

/* Clears d (every field empty, line 0, code 0). */
void crr_diag_clear(crr_diag_t *d);

/* Sets code, field and a printf-formatted reason; keeps file and line.
 * Returns CRR_EREJECT so validators can `return crr_diag_set(...)`. */
int crr_diag_set(crr_diag_t *d, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "file:line: field: reason" (parts that are empty left out) into buf.
 * Returns buf. */
char *crr_diag_format(const crr_diag_t *d, char *buf, size_t len);

/* Reject codes 0..CRR_REJECT_CODES-1 (Crrmon__V1__RejectCode). */
#define CRR_REJECT_CODES 13

/* The short snake_case name of a reject code ("unknown_borough", "too_old"...);
 * "unspecified" for 0 or an unknown value. */
const char *crr_reject_code_name(int code);

#endif
