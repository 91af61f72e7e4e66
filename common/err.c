/* err: crr_strerror() over our codes, LMDB's and errno; diag helpers.
 * Owns no state. */
#include "err.h"

#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* zmq.h's base for its own error numbers */
#define S_ZMQ_HAUSNUMERO 156384712

const char *crr_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
    case CRR_EINVAL: return "invalid argument or input";
    case CRR_EPARSE: return "input does not parse";
    case CRR_ETOOBIG: return "over the configured size limit";
    case CRR_ELOCKED: return "data folder is locked by another process";
    case CRR_ESPOOLFULL: return "spool is full";
    case CRR_ECONFIG: return "configuration error";
    case CRR_ENOTFOUND: return "not found";
    case CRR_ETIMEOUT: return "timed out";
    case CRR_EPROTO: return "protocol error";
    case CRR_EREJECT: return "input rejected";
    case CRR_ETRUNCATED:
        return "data file is shorter than LMDB's own record of its size (truncated or damaged)";
    case CRR_EEMPTY: return "data file is empty (0 bytes)";
    case CRR_EVERSION:
        return "written by a newer crrmon (on-disk format version newer than this build reads)";
    default: break;
    }
    if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
        return mdb_strerror(rc);
    if (rc < 0)
        rc = -rc;
    /* libzmq's own codes (zmq.h: ZMQ_HAUSNUMERO + 51..54; common/ links no
     * libzmq, so their texts are here) */
    switch (rc - S_ZMQ_HAUSNUMERO) {
    case 51: return "operation cannot be accomplished in current state (ZeroMQ)";
    case 52: return "the protocol is not compatible with the socket type (ZeroMQ)";
    case 53: return "context was terminated (ZeroMQ)";
    case 54: return "no thread available (ZeroMQ)";
    default: break;
    }
    return strerror(rc); /* errno, negated or not (LMDB passes system errors as positive) */
}

int crr_err_bad_data(int rc)
{
    return rc == CRR_ETRUNCATED || rc == CRR_EEMPTY || rc == MDB_INVALID || rc == MDB_CORRUPTED ||
           rc == MDB_PAGE_NOTFOUND || rc == MDB_VERSION_MISMATCH || rc == CRR_EVERSION;
}

void crr_diag_clear(crr_diag_t *d)
{
    memset(d, 0, sizeof *d);
}

int crr_diag_set(crr_diag_t *d, int code, const char *field, const char *fmt, ...)
{
    if (!d)
        return CRR_EREJECT;
    d->code = code;
    snprintf(d->field, sizeof d->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    return CRR_EREJECT;
}

char *crr_diag_format(const crr_diag_t *d, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        if (off < len) {                                                                           \
            int w_ = snprintf(buf + off, len - off, __VA_ARGS__);                                  \
            if (w_ > 0)                                                                            \
                off += (size_t)w_;                                                                 \
        }                                                                                          \
    } while (0)
    if (d->file[0])
        APPEND("%s:", d->file);
    if (d->line > 0)
        APPEND("%ld:", d->line);
    if (off)
        APPEND(" ");
    if (d->field[0])
        APPEND("%s: ", d->field);
    APPEND("%s", d->reason[0] ? d->reason : "error");
#undef APPEND
    return buf;
}

const char *crr_reject_code_name(int code)
{
    static const char *const names[] = {
        "unspecified",  "malformed",    "no_body",           "unknown_borough", "missing_field",
        "out_of_range", "future",       "too_old",           "inconsistent",    "not_allowed",
        "bad_sequence", "store_failed", "sequence_conflict",
    };
    if (code < 0 || (size_t)code >= sizeof names / sizeof names[0])
        return "unspecified";
    return names[code];
}
