/* config: the aggregator's config map. One table describes every key (INI
 * section [aggregator], named flags for the common ones, --aggregator.key=value
 * for all); the map of every registered sink is spliced in after it with its
 * offsets moved into crr_agg_config_t.sink_cfg[i], once per sink instance
 * (`[sink.NAME] type = csv|jsonl|...`; NAME defaults to the type), so
 * `[sink.jsonl] dir = ...`, `[sink.archive] type = csv` and
 * `--sink.jsonl.dir=...` work without the aggregator knowing the keys.
 * Section [security] holds the CURVE keys (server secret, the admitted
 * collectors' and feed subscribers' folders) and `insecure`. */
#include "aggregator.h"

#include "log.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

static int s_check_sinks(const char *v, char *why, size_t len);

static int s_check_schedules(const char *v, char *why, size_t len)
{
    crr_schedule_t sc[CRR_AGG_MAX_SCHEDULES];
    crr_diag_t d;
    crr_diag_clear(&d);
    int n = crr_schedule_parse_list(v, sc, CRR_AGG_MAX_SCHEDULES, &d);
    if (s_check_diag(n, &d, why, len))
        return -1;
    for (int i = 0; i < n; i++) /* the sinks a schedule names are instances too */
        if (sc[i].sinks[0] && s_check_sinks(sc[i].sinks, why, len))
            return -1;
    return 0;
}

static int s_check_timezone(const char *v, char *why, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", v);
    if (*v && strstr(v, "..") == NULL && v[0] != '/' && access(path, R_OK) == 0)
        return 0;
    snprintf(why, len, "'%s' is not a time zone of the system's tz database (e.g. Europe/London)",
             v);
    return -1;
}

static int s_check_sinks(const char *v, char *why, size_t len)
{
    const crr_sink_ops_t *ops;
    size_t seen[CRR_AGG_MAX_SINKS + 1], n = 0, slot;
    for (const char *p = v; *p;) {
        size_t k = strcspn(p, ", ");
        if (k) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(k < 63 ? k : 63), p);
            if (crr_agg_sink_instance(name, &ops, &slot) != 0) {
                snprintf(why, len,
                         "no sink named '%s' is compiled in or configured as [sink.%s] "
                         "type = ... (see --help)",
                         name, name);
                return -1;
            }
            for (size_t i = 0; i < n; i++)
                if (seen[i] == slot) {
                    snprintf(why, len, "sink '%s' is listed twice", name);
                    return -1;
                }
            if (n < CRR_AGG_MAX_SINKS)
                seen[n++] = slot;
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
    {S, "feed_state", CRR_CFG_STR, "", 0, 0, OFF(feed_state), "feed-state",
     "ZeroMQ endpoint of the live feed's state requests (late joiners: the Clone pattern); "
     "empty = the feed's endpoint with its port + 1 (port * stays *)"},
    {S, "feed_period", CRR_CFG_DURATION, "1s", 0, 3600000, OFF(feed_period), NULL,
     "the live feed computes a touched borough's headline indicators at most once per period "
     "(coalesced); 0 = no updates (the state stays the one computed at start); read at start"},
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
    {S, "log_format", CRR_CFG_STR, "text", 0, 0, OFF(log_format), "log-format",
     "text, or json (one object per line, for log shippers); under systemd the journal "
     "adds the time",
     crr_log_check_format},
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
     "snapshot schedules, name=spec;... with spec 'every 15m', 'hourly', 'daily 02:00', "
     "'weekly mon 06:00' or 'monthly 1 03:00' (local time: aggregator.timezone), each "
     "optionally followed by '@ sink,sink' (the instances it feeds; default aggregator.sinks); "
     "empty = none",
     s_check_schedules},
    {S, "timezone", CRR_CFG_STR, "Europe/London", 0, 0, OFF(tz), NULL,
     "time zone of the schedules (a tz database name, e.g. Europe/London or UTC; read at "
     "start)",
     s_check_timezone},
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
    {"http", "stream_replay", CRR_CFG_INT, "16384", 16, 1048576, OFF(http_stream_replay), NULL,
     "feed messages GET /api/v1/stream keeps for a client reconnecting with Last-Event-ID "
     "(further behind, it is told to reload); read at start"},
    {"http", "metrics_cache", CRR_CFG_DURATION, "5s", 0, 3600000, OFF(http_metrics_cache), NULL,
     "GET /metrics computes the indicator values at most once per this long and serves them "
     "again in between (0 = on every scrape); read at start"},
    {"http", "stale_after", CRR_CFG_DURATION, "15m", 1000, 2592000000.0, OFF(http_stale_after),
     NULL,
     "the dashboard (GET /) marks a borough stale (red) when it sent no event for this long; "
     "applied on reload"},
    CRR_CFG_END,
};

/* ---- sink instances ----
 * The instances are found before the table is built: every `[sink.NAME]`
 * section of the --config file and every `--sink.NAME.type=T` flag names
 * one (its type from `type`, else NAME itself); every compiled-in sink type
 * not named so is an instance named after its type (so `[sink.csv]` and
 * `--sink.jsonl.dir` need no `type`). Written once by crr_agg_config_table
 * (main thread, before anything reads it), read-only afterwards: the one
 * piece of config state outside crr_agg_config_t, because the table's own
 * shape depends on it. */
typedef struct {
    char name[64];             /* instance name (section sink.NAME) */
    char type[64];             /* its type as written ("" = NAME) */
    const crr_sink_ops_t *ops; /* the registered type, NULL when unknown */
    char section[80];          /* "sink.NAME" (the table's entries point here) */
} s_inst_t;

static s_inst_t s_insts[CRR_AGG_MAX_SINKS];
static size_t s_ninsts;

static s_inst_t *s_inst(const char *name, size_t len, int add)
{
    for (size_t i = 0; i < s_ninsts; i++)
        if (strlen(s_insts[i].name) == len && strncmp(s_insts[i].name, name, len) == 0)
            return &s_insts[i];
    if (!add || s_ninsts == CRR_AGG_MAX_SINKS || len == 0 || len >= sizeof s_insts[0].name)
        return NULL;
    s_inst_t *e = &s_insts[s_ninsts++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len);
    return e;
}

static int s_ini_section(void *ud, const char *section, const char *key, const char *value)
{
    (void)ud;
    if (strncmp(section, "sink.", 5) != 0)
        return 1;
    s_inst_t *e = s_inst(section + 5, strlen(section + 5), 1);
    if (e && strcmp(key, "type") == 0)
        snprintf(e->type, sizeof e->type, "%s", value);
    return 1;
}

/* Finds the instances (above) from argv's --config file and --sink.NAME.type flags. */
static void s_find_instances(int argc, char **argv)
{
    s_ninsts = 0;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file)
        ini_parse(file, s_ini_section, NULL); /* errors are the loader's to report */
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--sink.", 7) != 0)
            continue;
        const char *name = argv[i] + 7, *dot = strchr(name, '.');
        if (!dot)
            continue;
        s_inst_t *e = s_inst(name, (size_t)(dot - name), 1);
        const char *val = NULL;
        if (strncmp(dot, ".type=", 6) == 0)
            val = dot + 6;
        else if (strcmp(dot, ".type") == 0 && i + 1 < argc)
            val = argv[i + 1];
        if (e && val)
            snprintf(e->type, sizeof e->type, "%s", val);
    }
    for (const crr_sink_ops_t *const *r = crr_sink_registry; *r; r++)
        s_inst((*r)->name, strlen((*r)->name), 1);
    for (size_t i = 0; i < s_ninsts; i++) {
        s_inst_t *e = &s_insts[i];
        e->ops = crr_sink_find(e->type[0] ? e->type : e->name);
        memcpy(e->section, "sink.", 5); /* 80 bytes hold "sink." and a 63-byte name */
        memcpy(e->section + 5, e->name, strlen(e->name) + 1);
        if (!e->ops)
            fprintf(stderr,
                    "crrmon-aggregator: [sink.%s]: type '%s' is not a compiled-in sink (see "
                    "--help)\n",
                    e->name, e->type[0] ? e->type : e->name);
    }
}

int crr_agg_sink_instance(const char *name, const crr_sink_ops_t **ops, size_t *slot)
{
    for (size_t i = 0; i < s_ninsts; i++)
        if (s_insts[i].ops && strcmp(s_insts[i].name, name) == 0) {
            *ops = s_insts[i].ops;
            *slot = i;
            return 0;
        }
    return CRR_ENOTFOUND;
}

crr_cfg_entry_t *crr_agg_config_table(int argc, char **argv)
{
    s_find_instances(argc, argv);
    size_t n = 0;
    for (const crr_cfg_entry_t *e = s_table; e->key; e++)
        n++;
    for (size_t k = 0; k < s_ninsts; k++) {
        const crr_sink_ops_t *ops = s_insts[k].ops;
        if (!ops)
            continue;
        if (ops->config_size > CRR_SINK_CONFIG_MAX)
            return NULL;
        n++; /* type */
        for (const crr_cfg_entry_t *e = ops->config_map; e && e->key; e++)
            n++;
    }
    crr_cfg_entry_t *t = calloc(n + 1, sizeof *t);
    if (!t)
        return NULL;
    size_t i = 0;
    for (const crr_cfg_entry_t *e = s_table; e->key; e++)
        t[i++] = *e;
    for (size_t k = 0; k < s_ninsts; k++) {
        const crr_sink_ops_t *ops = s_insts[k].ops;
        if (!ops)
            continue;
        t[i++] = (crr_cfg_entry_t){s_insts[k].section,
                                   "type",
                                   CRR_CFG_STR,
                                   ops->name,
                                   0,
                                   0,
                                   OFF(sink_type) + k * sizeof(char *),
                                   NULL,
                                   "the sink type of this instance (read at start)",
                                   NULL};
        for (const crr_cfg_entry_t *e = ops->config_map; e && e->key; e++) {
            t[i] = *e;
            t[i].section = s_insts[k].section;
            t[i].offset =
                OFF(sink_cfg) + k * sizeof(((crr_agg_config_t *)0)->sink_cfg[0]) + e->offset;
            i++;
        }
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
