/* config: the aggregator's config map. One table describes every key (INI
 * section [aggregator], named flags for the common ones, --aggregator.key=value
 * for all); the map of every registered sink is spliced in after it with its
 * offsets moved into crr_agg_config_t.sink_cfg[i], so `[sink.jsonl] dir = ...`
 * and `--sink.jsonl.dir=...` work without the aggregator knowing the keys.
 * Section [security] holds the CURVE keys (server secret, the admitted
 * collectors' and feed subscribers' folders) and `insecure`. */
#include "aggregator.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S "aggregator"
#define OFF(f) offsetof(crr_agg_config_t, f)

int crr_agg_check_log_level(const char *v, char *why, size_t len)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            return 0;
    snprintf(why, len, "'%s' is not a log level (error, warn, info or debug)", v);
    return -1;
}

static int s_check_diag(int rc, const crr_diag_t *d, char *why, size_t len)
{
    if (rc >= 0)
        return 0;
    snprintf(why, len, "%s", d->reason);
    return -1;
}

static int s_check_windows(const char *v, char *why, size_t len)
{
    unsigned w[CRR_STORE_MAX_WINDOWS];
    crr_diag_t d;
    crr_diag_clear(&d);
    return s_check_diag(crr_agg_parse_windows(v, w, CRR_STORE_MAX_WINDOWS, &d), &d, why, len);
}

static int s_check_schedules(const char *v, char *why, size_t len)
{
    crr_schedule_t sc[CRR_AGG_MAX_SCHEDULES];
    crr_diag_t d;
    crr_diag_clear(&d);
    return s_check_diag(crr_schedule_parse_list(v, sc, CRR_AGG_MAX_SCHEDULES, &d), &d, why, len);
}

static int s_check_sinks(const char *v, char *why, size_t len)
{
    const crr_sink_ops_t *seen[CRR_AGG_MAX_SINKS + 1] = {0};
    size_t n = 0;
    for (const char *p = v; *p;) {
        size_t k = strcspn(p, ", ");
        if (k) {
            const crr_sink_ops_t *ops = NULL;
            for (size_t i = 0; crr_sink_registry[i]; i++)
                if (strlen(crr_sink_registry[i]->name) == k &&
                    strncmp(crr_sink_registry[i]->name, p, k) == 0)
                    ops = crr_sink_registry[i];
            if (!ops) {
                snprintf(why, len, "no sink named '%.*s' is compiled in (see --help)", (int)k, p);
                return -1;
            }
            for (size_t i = 0; i < n; i++)
                if (seen[i] == ops) {
                    snprintf(why, len, "sink '%s' is listed twice", ops->name);
                    return -1;
                }
            if (n < CRR_AGG_MAX_SINKS)
                seen[n++] = ops;
        }
        p += k;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static const crr_cfg_entry_t s_table[] = {
    {S, "data_dir", CRR_CFG_STR, "", 0, 0, OFF(data_dir), "data-dir",
     "data folder: store/, lock, endpoints.json, snapshots/ (required)"},
    {S, "ingest", CRR_CFG_STR, "tcp://*:7400", 0, 0, OFF(ingest), "ingest",
     "ZeroMQ endpoint the ingest ROUTER binds (port * = any; see endpoints.json)"},
    {S, "feed", CRR_CFG_STR, "tcp://*:7401", 0, 0, OFF(feed), "feed",
     "ZeroMQ endpoint the live-feed PUB binds"},
    {S, "http", CRR_CFG_STR, "127.0.0.1:7480", 0, 0, OFF(http), "http",
     "HTTP API ADDR:PORT (port 0 or * = any; binds localhost unless configured)"},
    {"security", "insecure", CRR_CFG_BOOL, "false", 0, 0, OFF(insecure), "insecure",
     "without server_cert, accept plain TCP (no CURVE, no key check; logs a warning; the "
     "default ingest and feed endpoints then bind 127.0.0.1 only)"},
    {"security", "server_cert", CRR_CFG_STR, "", 0, 0, OFF(server_cert), NULL,
     "the aggregator's SECRET certificate (crrmon keygen NAME: give NAME_secret, mode 0600)"},
    {"security", "clients_dir", CRR_CFG_STR, "", 0, 0, OFF(clients_dir), NULL,
     "folder of admitted collectors' public certificates (metadata borough = CODE,...); "
     "re-read on SIGHUP"},
    {"security", "feed_clients_dir", CRR_CFG_STR, "", 0, 0, OFF(feed_clients_dir), NULL,
     "folder of admitted live-feed subscribers' public certificates; re-read on SIGHUP"},
    {S, "log_level", CRR_CFG_STR, "info", 0, 0, OFF(log_level), "log-level",
     "error, warn, info or debug", crr_agg_check_log_level},
    {S, "max_msg_size", CRR_CFG_SIZE, "4M", 1024, 1073741824.0, OFF(max_msg_size), NULL,
     "ZMQ_MAXMSGSIZE: a larger frame costs its sender the connection"},
    {S, "rcvhwm", CRR_CFG_INT, "64", 1, 10000000, OFF(rcvhwm), NULL,
     "ZMQ_RCVHWM of the ingest socket (frames queued before senders are pushed back)"},
    {S, "sndhwm", CRR_CFG_INT, "10000", 1, 10000000, OFF(sndhwm), NULL,
     "ZMQ_SNDHWM of the ingest and feed sockets"},
    {S, "group_max_events", CRR_CFG_INT, "100000", 1, 100000000, OFF(group_max_events), NULL,
     "group commit: close a group at this many events"},
    {S, "group_max_ms", CRR_CFG_DURATION, "50ms", 1, 60000, OFF(group_max_ms), NULL,
     "group commit: close a group this long after its first frame"},
    {S, "map_size", CRR_CFG_SIZE, "4G", 65536, 1099511627776.0, OFF(map_size), NULL,
     "LMDB map size (a hard limit: MDB_MAP_FULL is reported, never a crash)"},
    {S, "start_empty", CRR_CFG_BOOL, "false", 0, 0, OFF(start_empty), NULL,
     "start with an empty store when store/data.mdb is empty (0 bytes) instead of exiting 78"},
    {S, "windows", CRR_CFG_STR, "30,90,365", 0, 0, OFF(windows), NULL,
     "indicator windows in whole UTC days, comma list", s_check_windows},
    {S, "schedules", CRR_CFG_STR, "nightly=daily 02:00", 0, 0, OFF(schedules), NULL,
     "snapshot schedules, name=spec;... with spec 'every 15m', 'daily 02:00' or "
     "'monthly 1 03:00' (UTC); empty = none",
     s_check_schedules},
    {S, "snapshot_dir", CRR_CFG_STR, "", 0, 0, OFF(snapshot_dir), NULL,
     "folder the file sinks write to (default DATA_DIR/snapshots)"},
    {S, "snapshot_max_age", CRR_CFG_DURATION, "730d", 0, 0, OFF(snapshot_max_age), NULL,
     "stored snapshots older than this are pruned (0 = keep)"},
    {S, "reject_max_age", CRR_CFG_DURATION, "90d", 0, 0, OFF(reject_max_age), NULL,
     "stored rejects older than this are pruned (0 = keep)"},
    {S, "prune_interval", CRR_CFG_DURATION, "1h", 0, 0, OFF(prune_interval), NULL,
     "time between prunes of old buckets, snapshots and rejects"},
    {S, "bucket_max_age", CRR_CFG_DURATION, "0", 0, 0, OFF(bucket_max_age), NULL,
     "keep day buckets and record ids this long (whole days) and reject older events as "
     "too_old; snapshots can be taken as of dates back to now minus (this - the longest "
     "window); 0 = the longest window plus 30 days"},
    {S, "sinks", CRR_CFG_STR, "jsonl", 0, 0, OFF(sinks), NULL,
     "snapshot sinks, comma list (compiled in: see --help's sink sections)", s_check_sinks},
    {S, "delivery_max_attempts", CRR_CFG_INT, "24", 0, 1000000, OFF(delivery_max_attempts), NULL,
     "a snapshot delivery that fails this many times is dead (kept, shown, retried by "
     "`crrmon export --retry SINK`); 0 = retry forever"},
    {S, "delivery_backoff", CRR_CFG_DURATION, "1s", 1, 86400000, OFF(delivery_backoff), NULL,
     "wait before the first retry of a failed delivery; doubled per attempt (with jitter)"},
    {S, "delivery_backoff_max", CRR_CFG_DURATION, "10m", 1, 86400000, OFF(delivery_backoff_max),
     NULL, "longest wait between two attempts of a delivery"},
    {S, "ref_boroughs", CRR_CFG_STR, "london_boroughs.csv", 0, 0, OFF(ref_boroughs), NULL,
     "borough list CSV; a bare name is looked up in the shipped data (\"\" = none)"},
    {S, "ref_population", CRR_CFG_STR, "population_ethnicity_census2021.csv", 0, 0,
     OFF(ref_population), NULL,
     "population by borough and ethnicity CSV (\"\" = none: rate rows absent)"},
    /* [http]: TLS and Basic authentication of the HTTP API (http.c, users.h) */
    {"http", "tls_cert", CRR_CFG_STR, "", 0, 0, OFF(http_tls_cert), NULL,
     "PEM certificate (chain) the HTTP API serves TLS with; needs tls_key (required on a "
     "non-loopback http address)"},
    {"http", "tls_key", CRR_CFG_STR, "", 0, 0, OFF(http_tls_key), NULL,
     "PEM private key of tls_cert; refused when group or others can read it"},
    {"http", "users_file", CRR_CFG_STR, "", 0, 0, OFF(http_users_file), NULL,
     "users file (NAME:SHA512-CRYPT:ROLE lines, written by `crrmon passwd`): HTTP Basic "
     "authentication on every endpoint but /healthz, re-read on SIGHUP (required on a "
     "non-loopback http address)"},
    CRR_CFG_END,
};

crr_cfg_entry_t *crr_agg_config_table(void)
{
    size_t n = 0, nsinks = 0;
    for (const crr_cfg_entry_t *e = s_table; e->key; e++)
        n++;
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++, nsinks++) {
        if (nsinks >= CRR_AGG_MAX_SINKS || (*s)->config_size > CRR_SINK_CONFIG_MAX)
            return NULL;
        for (const crr_cfg_entry_t *e = (*s)->config_map; e && e->key; e++)
            n++;
    }
    crr_cfg_entry_t *t = calloc(n + 1, sizeof *t);
    if (!t)
        return NULL;
    size_t i = 0;
    for (const crr_cfg_entry_t *e = s_table; e->key; e++)
        t[i++] = *e;
    size_t k = 0;
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++, k++)
        for (const crr_cfg_entry_t *e = (*s)->config_map; e && e->key; e++) {
            t[i] = *e;
            t[i].offset =
                OFF(sink_cfg) + k * sizeof(((crr_agg_config_t *)0)->sink_cfg[0]) + e->offset;
            i++;
        }
    t[i] = (crr_cfg_entry_t)CRR_CFG_END;
    return t;
}

int crr_agg_parse_windows(const char *text, unsigned *out, size_t max, crr_diag_t *d)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        char item[32];
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        snprintf(item, sizeof item, "%.*s", (int)(len < 31 ? len : 31), p);
        unsigned v;
        if (len >= 31 || crr_cfg_parse_days(item, &v) || v > 3650) {
            crr_diag_set(d, 0, "windows",
                         "'%s' is not a comma list of days (1..3650, e.g. 30,90,365 or 30d,90d)",
                         text);
            return CRR_ECONFIG;
        }
        if (n == max) {
            crr_diag_set(d, 0, "windows", "at most %zu windows", max);
            return CRR_ECONFIG;
        }
        out[n++] = v;
        p += len;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
    }
    if (n == 0) {
        crr_diag_set(d, 0, "windows", "at least one window is needed");
        return CRR_ECONFIG;
    }
    return (int)n;
}

int crr_agg_bucket_max_age_days(int64_t bucket_max_age_ms, const unsigned *windows, size_t nw,
                                int64_t *days, crr_diag_t *d)
{
    int64_t longest = 0;
    for (size_t i = 0; i < nw; i++)
        if (windows[i] > longest)
            longest = windows[i];
    const int64_t day_ms = 86400000;
    if (bucket_max_age_ms <= 0) {
        *days = longest + 30;
        return 0;
    }
    *days = (bucket_max_age_ms + day_ms - 1) / day_ms;
    if (*days < longest) {
        crr_diag_set(d, 0, "bucket_max_age",
                     "%lldd is shorter than the longest window (%lldd), which it must keep",
                     (long long)*days, (long long)longest);
        return CRR_ECONFIG;
    }
    return 0;
}
