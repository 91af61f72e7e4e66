/* postgres: the PostgreSQL sink (libpq). Each snapshot is written in ONE
 * transaction into two tables, created when missing:
 *
 *   crrmon_snapshot        (id text PRIMARY KEY, as_of timestamptz, taken_at timestamptz,
 *                           schedule text)
 *   crrmon_indicator_value (snapshot_id text REFERENCES crrmon_snapshot ON DELETE CASCADE,
 *                           indicator text, borough text, window_days integer, dims jsonb,
 *                           value double precision, n bigint, n_eff double precision,
 *                           ci_low double precision, ci_high double precision,
 *                           reliable boolean, boroughs_reporting integer)
 *
 * An absent value (a wrapper left out) is NULL; dims is a JSON object ({} for
 * the total). Idempotent on the snapshot id: the snapshot row is inserted
 * with ON CONFLICT DO NOTHING, and when it was already there the transaction
 * ends without touching the values (they were committed with it), so a
 * delivery written again after a crash never duplicates rows. The values
 * travel with COPY FROM STDIN (text format) in the same transaction.
 *
 * Connection: `conninfo` (a libpq connection string or URI) or the first
 * line of `conninfo_file` (so the password stays out of the config); neither
 * is ever logged. The connection is made at the first write, kept, and made
 * again after a failure, so a database that is down at start or goes away
 * only delays deliveries (CRR_SINK_RETRY). Threading: an instance is used by
 * one thread at a time (the aggregator's delivery thread). */
#include "sink.h"

#include "clock.h"
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *conninfo;      /* libpq connection string */
    char *conninfo_file; /* file holding it (first line); wins over conninfo */
} s_config_t;

static const crr_cfg_entry_t s_config_map[] = {
    {"sink.postgres", "conninfo", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, conninfo), NULL,
     "libpq connection string, e.g. 'host=db dbname=crrmon user=crrmon' (never logged; prefer "
     "conninfo_file for a password)"},
    {"sink.postgres", "conninfo_file", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, conninfo_file),
     NULL, "file whose first line is the connection string (mode 0600; never logged)"},
    CRR_CFG_END,
};

static const char *const s_schema =
    "CREATE TABLE IF NOT EXISTS crrmon_snapshot ("
    " id text PRIMARY KEY, as_of timestamptz NOT NULL, taken_at timestamptz NOT NULL,"
    " schedule text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS crrmon_indicator_value ("
    " snapshot_id text NOT NULL REFERENCES crrmon_snapshot (id) ON DELETE CASCADE,"
    " indicator text NOT NULL, borough text NOT NULL, window_days integer NOT NULL,"
    " dims jsonb NOT NULL, value double precision, n bigint NOT NULL, n_eff double precision,"
    " ci_low double precision, ci_high double precision, reliable boolean NOT NULL,"
    " boroughs_reporting integer NOT NULL);"
    "CREATE INDEX IF NOT EXISTS crrmon_indicator_value_snapshot"
    " ON crrmon_indicator_value (snapshot_id);";

typedef struct {
    char *conninfo; /* copied at open */
    PGconn *conn;   /* NULL until the first write, and after a failure */
} s_state_t;

static int s_open(const crr_sink_section_t *section, void **state, crr_diag_t *d)
{
    const s_config_t *cfg = section->config;
    char line[8192] = "";
    if (cfg && cfg->conninfo_file && *cfg->conninfo_file) {
        FILE *f = fopen(cfg->conninfo_file, "r");
        if (!f) {
            int e = errno;
            crr_diag_set(d, 0, "conninfo_file", "cannot open %s: %s", cfg->conninfo_file,
                         strerror(e));
            return -e;
        }
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
    } else if (cfg && cfg->conninfo) {
        snprintf(line, sizeof line, "%s", cfg->conninfo);
    }
    if (!line[0]) {
        crr_diag_set(d, 0, "conninfo", "[sink.%s] needs conninfo or conninfo_file", section->name);
        return CRR_ECONFIG;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(line, &err);
    if (!opts) {
        crr_diag_set(d, 0, "conninfo", "[sink.%s] connection string does not parse: %s",
                     section->name, err ? err : "out of memory");
        PQfreemem(err);
        memset(line, 0, sizeof line);
        return CRR_ECONFIG;
    }
    PQconninfoFree(opts);
    s_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->conninfo = strdup(line))) {
        free(st);
        memset(line, 0, sizeof line);
        return -ENOMEM;
    }
    memset(line, 0, sizeof line);
    *state = st;
    return 0;
}

/* The first line of libpq's message (no trailing newline) into d. */
static void s_pq_error(crr_diag_t *d, const char *what, const char *msg)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;
    crr_diag_set(d, 0, "", "postgres: %s: %.*s", what, (int)(n > 300 ? 300 : n), msg ? msg : "");
}

/* Connects (and creates the tables) when not connected. 0 or -1 with d set. */
static int s_connect(s_state_t *st, crr_diag_t *d)
{
    if (st->conn && PQstatus(st->conn) == CONNECTION_OK)
        return 0;
    if (st->conn)
        PQfinish(st->conn);
    st->conn = PQconnectdb(st->conninfo);
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        s_pq_error(d, "cannot connect", st->conn ? PQerrorMessage(st->conn) : "out of memory");
        PQfinish(st->conn);
        st->conn = NULL;
        return -1;
    }
    PGresult *r = PQexec(st->conn, "SET client_min_messages = warning");
    PQclear(r);
    r = PQexec(st->conn, s_schema);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        s_pq_error(d, "cannot create the tables", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        PQfinish(st->conn);
        st->conn = NULL;
        return -1;
    }
    return 0;
}

/* Runs sql without results; 0 or -1 with d set. */
static int s_exec(s_state_t *st, const char *sql, crr_diag_t *d)
{
    PGresult *r = PQexec(st->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        s_pq_error(d, sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Appends text to out escaped for COPY's text format. */
static void s_copy_text(FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '\\': fputs("\\\\", out); break;
        case '\t': fputs("\\t", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        default: fputc(*p, out);
        }
    }
}

static void s_copy_double(FILE *out, const Google__Protobuf__DoubleValue *w)
{
    if (!w)
        fputs("\\N", out);
    else
        fprintf(out, "%.17g", w->value);
}

/* The COPY text of every value of s (malloc'd into *buf), or -ENOMEM. */
static int s_copy_rows(const Crrmon__V1__Snapshot *s, char **buf, size_t *len)
{
    FILE *out = open_memstream(buf, len);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_values; i++) {
        const Crrmon__V1__IndicatorValue *v = s->values[i];
        json_t *dims = json_object();
        for (size_t k = 0; dims && k < v->n_dims; k++)
            json_object_set_new(dims, v->dims[k]->key ? v->dims[k]->key : "",
                                json_string(v->dims[k]->value ? v->dims[k]->value : ""));
        char *dtext = crr_json_dump_checked(dims, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(dims);
        if (!dtext) {
            fclose(out);
            free(*buf);
            return -ENOMEM;
        }
        s_copy_text(out, s->id);
        fputc('\t', out);
        s_copy_text(out, v->indicator);
        fputc('\t', out);
        s_copy_text(out, v->borough);
        fprintf(out, "\t%" PRIu32 "\t", v->window_days);
        s_copy_text(out, dtext);
        free(dtext);
        fputc('\t', out);
        s_copy_double(out, v->value);
        fprintf(out, "\t%" PRIu64 "\t", v->n);
        s_copy_double(out, v->n_eff);
        fputc('\t', out);
        s_copy_double(out, v->ci_low);
        fputc('\t', out);
        s_copy_double(out, v->ci_high);
        fprintf(out, "\t%s\t%" PRIu32 "\n", v->reliable ? "t" : "f", v->boroughs_reporting);
    }
    int bad = ferror(out);
    if (fclose(out) != 0 || bad) {
        free(*buf);
        return -ENOMEM;
    }
    return 0;
}

/* Inserts the snapshot row; 1 inserted, 0 already there, -1 failed (d set). */
static int s_insert_head(s_state_t *st, const Crrmon__V1__Snapshot *s, crr_diag_t *d)
{
    char as_of[40] = "", taken[40] = "";
    if (s->as_of)
        crr_time_format(s->as_of->seconds, s->as_of->nanos, as_of, sizeof as_of);
    if (s->taken_at)
        crr_time_format(s->taken_at->seconds, s->taken_at->nanos, taken, sizeof taken);
    const char *params[4] = {s->id, as_of, taken, s->schedule ? s->schedule : ""};
    PGresult *r = PQexecParams(st->conn,
                               "INSERT INTO crrmon_snapshot (id, as_of, taken_at, schedule)"
                               " VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                               4, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
        rc = strcmp(PQcmdTuples(r), "1") == 0 ? 1 : 0;
    else
        s_pq_error(d, "insert into crrmon_snapshot", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* COPYs rows into crrmon_indicator_value; 0 or -1 with d set. */
static int s_copy(s_state_t *st, const char *rows, size_t len, crr_diag_t *d)
{
    PGresult *r = PQexec(st->conn, "COPY crrmon_indicator_value (snapshot_id, indicator, "
                                   "borough, window_days, dims, value, n, n_eff, ci_low, "
                                   "ci_high, reliable, boroughs_reporting) FROM STDIN");
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        s_pq_error(d, "copy into crrmon_indicator_value", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok)
        return -1;
    ok = (len == 0 || PQputCopyData(st->conn, rows, (int)len) == 1) &&
         PQputCopyEnd(st->conn, NULL) == 1;
    while ((r = PQgetResult(st->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            if (ok)
                s_pq_error(d, "copy into crrmon_indicator_value", PQresultErrorMessage(r));
            ok = 0;
        }
        PQclear(r);
    }
    if (!ok && !d->reason[0])
        s_pq_error(d, "copy into crrmon_indicator_value", PQerrorMessage(st->conn));
    return ok ? 0 : -1;
}

static int s_write(void *state, const Crrmon__V1__Snapshot *s, crr_diag_t *d)
{
    s_state_t *st = state;
    crr_diag_t local;
    if (!d) {
        crr_diag_clear(&local);
        d = &local;
    }
    char *rows = NULL;
    size_t len = 0;
    if (s_copy_rows(s, &rows, &len) != 0) {
        crr_diag_set(d, 0, "", "out of memory building snapshot %s", s->id);
        return CRR_SINK_RETRY;
    }
    int rc = -1, head = -1;
    if (s_connect(st, d) == 0 && s_exec(st, "BEGIN", d) == 0 &&
        (head = s_insert_head(st, s, d)) >= 0 && (head == 0 || s_copy(st, rows, len, d) == 0))
        rc = s_exec(st, "COMMIT", d);
    free(rows);
    if (rc == 0)
        return CRR_SINK_OK;
    if (st->conn) {
        PGresult *r = PQexec(st->conn, "ROLLBACK");
        PQclear(r);
        if (PQstatus(st->conn) != CONNECTION_OK) {
            PQfinish(st->conn);
            st->conn = NULL;
        }
    }
    return CRR_SINK_RETRY;
}

static void s_close(void **state)
{
    s_state_t *st = *state;
    if (st) {
        if (st->conn)
            PQfinish(st->conn);
        memset(st->conninfo, 0, strlen(st->conninfo));
        free(st->conninfo);
        free(st);
    }
    *state = NULL;
}

const crr_sink_ops_t crr_sink_postgres = {
    .name = "postgres",
    .description = "PostgreSQL: one transaction per snapshot into crrmon_snapshot and "
                   "crrmon_indicator_value, idempotent on the snapshot id",
    .config_map = s_config_map,
    .config_size = sizeof(s_config_t),
    .open = s_open,
    .write = s_write,
    .locate = NULL,
    .close = s_close,
};
