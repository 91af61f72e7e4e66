/* rejects: append-only JSON records keyed by a big-endian counter, so listing
 * is in arrival order and pruning by age walks from the front. The value's
 * "at" is an RFC 3339 string; pruning parses it back.
 *
 * Storing a reject never fails because of its text: every string is made
 * valid UTF-8 and cut on a character boundary (crr_json_text), and should
 * the dump still fail the record is stored without "raw". A reject that
 * cannot be stored would abort its owner's transaction, and the good input
 * of the same transaction with it. */
#include "rejects.h"

#include "clock.h"
#include "json.h"
#include "lmdbx.h"
#include "mem.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets o[key] to a valid UTF-8 copy of s (cut at max bytes); does nothing
 * for NULL or "" (a field that does not apply), or when out of memory. */
static void s_set_text(json_t *o, const char *key, const char *s, size_t max)
{
    if (s && *s)
        json_object_set_new(o, key, crr_json_text(s, strnlen(s, max), max));
}

/* s_record's members, each left out when it could not be allocated. */
static json_t *s_record_members(uint64_t id, const crr_reject_t *r)
{
    char when[48], num[32];
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "at", json_string(crr_time_format(r->at_sec, 0, when, sizeof when)));
    s_set_text(o, "source", r->source_id, CRR_REJECTS_RAW_MAX);
    if (r->epoch) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->epoch);
        json_object_set_new(o, "epoch", json_string(num));
    }
    if (r->seq) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->seq);
        json_object_set_new(o, "seq", json_string(num));
    }
    const crr_diag_t *d = r->diag;
    if (d) {
        s_set_text(o, "file", d->file, sizeof d->file);
        if (d->line > 0)
            json_object_set_new(o, "line", json_integer(d->line));
        s_set_text(o, "field", d->field, sizeof d->field);
        json_object_set_new(o, "code", json_string(crr_reject_code_name(d->code)));
        json_object_set_new(
            o, "reason",
            crr_json_text(d->reason, strnlen(d->reason, sizeof d->reason), sizeof d->reason));
    }
    return o;
}

/* The record's JSON text without "raw"; NULL when out of memory (a member
 * that could not be made would be left out silently: the record then has
 * no code, reason or id, and is not written at all). */
static json_t *s_record(uint64_t id, const crr_reject_t *r)
{
    unsigned long nomem = crr_mem_thread_failures();
    json_t *o = s_record_members(id, r);
    if (o && crr_mem_thread_failures() != nomem) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* json_dumps(o), or NULL when out of memory (json.h's checked dump). */
static char *s_dumps(const json_t *o)
{
    return crr_json_dump_checked(o, JSON_COMPACT | JSON_ENSURE_ASCII);
}

int crr_rejects_put(MDB_txn *txn, MDB_dbi dbi, const crr_reject_t *r)
{
    uint64_t id = 1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        id = crr_be64_get(k.mv_data) + 1;
    mdb_cursor_close(cur);

    json_t *o = s_record(id, r);
    if (!o)
        return -ENOMEM;
    char *text = NULL;
    if (r->raw) {
        /* any bytes at all: cut on a character, bad bytes replaced */
        size_t n =
            strnlen(r->raw, CRR_REJECTS_RAW_MAX + 4); /* see a character across the cut whole */
        json_object_set_new(o, "raw", crr_json_text(r->raw, n, CRR_REJECTS_RAW_MAX));
        text = s_dumps(o);
        if (!text) /* the reject matters more than its text: store it without */
            json_object_del(o, "raw");
    }
    if (!text)
        text = s_dumps(o);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    uint8_t key[8];
    crr_be64_put(key, id);
    k.mv_size = 8;
    k.mv_data = key;
    v.mv_size = strlen(text);
    v.mv_data = text;
    rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    free(text);
    return rc;
}

int crr_rejects_foreach(MDB_txn *txn, MDB_dbi dbi, uint64_t from_id,
                        int (*fn)(const char *json, size_t len, void *ud), void *ud)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    uint8_t key[8];
    crr_be64_put(key, from_id);
    MDB_val k = {8, key}, v;
    int op = MDB_SET_RANGE;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        int r = fn(v.mv_data, v.mv_size, ud);
        if (r) {
            mdb_cursor_close(cur);
            return r;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int crr_rejects_prune(MDB_txn *txn, MDB_dbi dbi, int64_t cutoff_sec, uint64_t *deleted)
{
    uint64_t n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *at = o ? json_string_value(json_object_get(o, "at")) : NULL;
        int64_t sec = 0;
        int32_t ns = 0;
        int old = !at || crr_time_parse(at, 0, &sec, &ns) != 0 || sec < cutoff_sec;
        json_decref(o);
        if (!old)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (deleted)
        *deleted = n;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

uint64_t crr_rejects_count(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    if (mdb_stat(txn, dbi, &st) != 0)
        return 0;
    return st.ms_entries;
}

/* The id of the last stored reject, 0 when there is none. */
static uint64_t s_last_id(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *cur;
    uint64_t id = 0;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return 0;
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        id = crr_be64_get(k.mv_data);
    mdb_cursor_close(cur);
    return id;
}

int crr_rejects_list_dir(const char *env_dir, uint64_t limit,
                         int (*fn)(const char *json, size_t len, void *ud), void *ud,
                         crr_rejects_stage_t *stage)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    *stage = CRR_REJECTS_AT_OPEN;
    /* map size 0: take the writer's, so every committed page is mapped */
    int rc = crr_lmdb_open(env_dir, 0, 32, MDB_RDONLY, &env);
    if (rc)
        return rc;
    *stage = CRR_REJECTS_AT_READ;
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
        goto done;
    *stage = CRR_REJECTS_AT_DB;
    rc = crr_lmdb_dbi(txn, CRR_REJECTS_DB, 0, &dbi);
    if (rc == MDB_NOTFOUND)
        rc = CRR_ENOTFOUND;
    if (rc)
        goto done;
    *stage = CRR_REJECTS_AT_LIST;
    uint64_t last = s_last_id(txn, dbi);
    uint64_t from = limit && last >= limit ? last - limit + 1 : 0;
    rc = crr_rejects_foreach(txn, dbi, from, fn, ud);
done:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}
