/* keys: the collector's config-map table (keys.h): the send keys, shared
 * with libcrrmon-client, and the collector's own keys, joined into the
 * collector's table. Owns the tables' text (sections, names, defaults,
 * ranges, help); does not load or act on values (main.c, client.c). */
#include "keys.h"

#include "collector.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static int s_check_log_level(const char *v, char *why, size_t len)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            return 0;
    snprintf(why, len, "'%s' is not a log level (error, warn, info or debug)", v);
    return -1;
}

#define S(field) offsetof(crr_send_cfg_t, field)
/* Add a key of validating, spooling or sending here and both the collector
 * and libcrrmon-client take it (the library refuses nothing listed here). */
static const crr_cfg_entry_t s_send[] = {
    {"collector", "log_level", CRR_CFG_STR, "info", 0, 0, S(log_level), "log-level",
     "error, warn, info or debug", s_check_log_level},
    {"collector", "future_slack", CRR_CFG_DURATION, "300s", 0, 86400000, S(future_slack_ms), NULL,
     "edge validation: reject events dated later than now + this"},
    {"collector", "max_age", CRR_CFG_DURATION, "0", 0, 0, S(max_age_ms), NULL,
     "edge validation: reject events older than this (0 = leave it to the aggregator)"},
    {"collector", "max_line", CRR_CFG_SIZE, "64k", 256, 16777216, S(max_line), NULL,
     "longest input line (one event); longer lines are rejected"},
    {"spool", "max_size", CRR_CFG_SIZE, "256M", 4096, 1099511627776.0, S(spool_max), "spool-size",
     "spool limit (bytes of event data); when full, reading stops (the library: a send "
     "returns 'full') until Acks free room"},
    {"sender", "window", CRR_CFG_INT, "256", 1, 4096, S(window_frames), "window",
     "frames (batches) in flight without an Ack"},
    {"sender", "batch_events", CRR_CFG_INT, "2000", 1, 20000, S(batch_events), "batch-events",
     "events per frame at most"},
    {"sender", "max_frame", CRR_CFG_SIZE, "1M", 4096, 268435456, S(max_frame), "max-frame",
     "frame size limit; keep below the aggregator's ingest max message size"},
    {"sender", "resend_timeout", CRR_CFG_DURATION, "5s", 10, 3600000, S(resend_ms), NULL,
     "resend unacknowledged frames after this long without Ack progress"},
    {"security", "client_cert", CRR_CFG_STR, "", 0, 0, S(client_cert), NULL,
     "this sender's SECRET certificate (crrmon keygen NAME: NAME_secret, mode 0600)"},
    {"security", "server_key", CRR_CFG_STR, "", 0, 0, S(server_key), NULL,
     "the aggregator's PUBLIC certificate: only that aggregator is trusted with the spool"},
    {"security", "insecure", CRR_CFG_BOOL, "false", 0, 0, S(insecure), "insecure",
     "without client_cert and server_key, send plain TCP (no CURVE; logs a warning)"},
    CRR_CFG_END,
};

#define C(field) offsetof(crr_collector_cfg_t, field)
static const crr_cfg_entry_t s_own[] = {
    {"collector", "data_dir", CRR_CFG_STR, "", 0, 0, C(data_dir), "data-dir",
     "data folder: LMDB spool (DATA_DIR/spool) and lock (required)"},
    {"collector", "aggregator", CRR_CFG_STR, "tcp://127.0.0.1:7400", 0, 0, C(aggregator),
     "aggregator", "aggregator ingest endpoint (ZeroMQ, e.g. tcp://host:7400)"},
    {"collector", "source_id", CRR_CFG_STR, "", 0, 0, C(source_id), "source-id",
     "this collector's source id (required; fixed for the life of the spool)"},
    {"collector", "log_format", CRR_CFG_STR, "text", 0, 0, C(log_format), "log-format",
     "text, or json (one object per line, for log shippers); under systemd the journal "
     "adds the time",
     crr_log_check_format},
    {"collector", "give_up_after", CRR_CFG_DURATION, "0", 0, 0, C(give_up_ms), "give-up-after",
     "exit 1 after this long without Ack progress while events wait (0 = never); the spool "
     "keeps them"},
    {"collector", "drain_timeout", CRR_CFG_DURATION, "5s", 0, 3600000, C(drain_ms), NULL,
     "on SIGTERM/SIGINT, how long to wait for in-flight Acks"},
    {"collector", "new_spool", CRR_CFG_BOOL, "false", 0, 0, C(new_spool), "new-spool",
     "start although the spool has no checkpoint for named files an earlier spool of this "
     "data folder read (it was lost): they are read again from line 1 (exit 78 otherwise)"},
    {"collector", "final_line", CRR_CFG_STR, "wait", 0, 0, C(final_line), NULL,
     "a file's last line without a newline: wait (left unread, it may still be being written) "
     "or accept (the files are finished); stdin's is always accepted at its end"},
    {"collector", "watch", CRR_CFG_STR, "", 0, 0, C(watch), "watch",
     "drop folder: read every complete *.jsonl, *.jsonl.gz and *.csv in it, then move it to "
     "DIR/done/ (problems to DIR/rejected/NAME.errors.csv); runs until stopped"},
    {"collector", "settle_time", CRR_CFG_DURATION, "5s", 0, 3600000, C(settle_ms), NULL,
     "drop folder: a file written in place is complete once closed by its writer and unchanged "
     "this long since (one there at start, or seen only by a rescan: unchanged this long); a "
     "file renamed into the folder is complete at once"},
    {"collector", "errors", CRR_CFG_STR, "", 0, 0, C(errors), "errors",
     "write the error report here: CSV, one row per problem (file, line, field, value, "
     "reason, code), every problem of a line; --check writes it to stdout without this"},
    {"collector", "group_lines", CRR_CFG_INT, "1000", 1, 1000000, C(group_lines), NULL,
     "lines per spool transaction (group commit)"},
    {"collector", "group_time", CRR_CFG_DURATION, "50ms", 1, 10000, C(group_ms), NULL,
     "time bound of one spool transaction"},
    CRR_CFG_END,
};

const crr_cfg_entry_t *crr_keys_send(void)
{
    return s_send;
}

const crr_cfg_entry_t *crr_keys_collector_own(void)
{
    return s_own;
}

crr_cfg_entry_t *crr_keys_collector_table(void)
{
    return crr_cfg_join(s_own, s_send, offsetof(crr_collector_cfg_t, send));
}

int crr_keys_send_check(const crr_send_cfg_t *s, char *why, size_t len)
{
    if (s->max_frame >= s->max_line + 1024)
        return 0;
    snprintf(why, len,
             "sender.max_frame (%llu) must exceed collector.max_line (%llu) by at least 1k so "
             "any line fits a frame",
             (unsigned long long)s->max_frame, (unsigned long long)s->max_line);
    return -1;
}
