/* keys: the collector's configuration keys, in two parts.
 *
 * The send keys (crr_keys_send) are those of validating, spooling and
 * sending one event: collector.log_level, future_slack, max_age and
 * max_line, spool.max_size, sender.* and security.*. They fill a
 * crr_send_cfg_t. crrmon-collector embeds that struct in its own
 * (crr_collector_cfg_t.send) and joins the send keys after its own ones
 * (crr_keys_collector_table); libcrrmon-client (libclient/client.c) uses
 * the send keys as they are. It is the one table of those keys: a key added
 * here is the collector's and the library's at once, with one default,
 * range and meaning.
 *
 * The collector's own keys (crr_keys_collector_own) are those of reading
 * files: the data folder, input files, the drop folder, the error report,
 * group commit, give-up and drain. The library links them only to name
 * them when a program sets one (crr_client_set refuses them).
 * Does not: load anything (common/cfg.c does), act on a value. */
#ifndef CRR_KEYS_H
#define CRR_KEYS_H

#include "cfg.h"

#include <stddef.h>
#include <stdint.h>

/* What the send keys fill. */
typedef struct crr_send_cfg {
    char *log_level;         /* collector.log_level: error|warn|info|debug */
    int64_t future_slack_ms; /* edge validation: future slack */
    int64_t max_age_ms;      /* edge validation: too old (0 = no check) */
    uint64_t max_line;       /* longest accepted event (input line) in bytes */
    uint64_t spool_max;      /* spool size limit (bytes of event data) */
    int64_t window_frames;   /* sender: frames in flight */
    int64_t batch_events;    /* sender: events per frame */
    uint64_t max_frame;      /* sender: frame size limit */
    int64_t resend_ms;       /* sender: go back after this long without progress */
    char *client_cert;       /* [security] client_cert: this sender's secret certificate */
    char *server_key;        /* [security] server_key: the aggregator's public certificate */
    int insecure;            /* [security] insecure: plain TCP when no keys are set */
} crr_send_cfg_t;

/* The send keys: offsets into crr_send_cfg_t, ending with CRR_CFG_END. */
const crr_cfg_entry_t *crr_keys_send(void);

/* The collector's own keys: offsets into crr_collector_cfg_t (collector.h),
 * ending with CRR_CFG_END. */
const crr_cfg_entry_t *crr_keys_collector_own(void);

/* The collector's whole table: its own keys, then the send keys at
 * offsetof(crr_collector_cfg_t, send). free() it; NULL when out of memory. */
crr_cfg_entry_t *crr_keys_collector_table(void);

/* What the send keys must agree on beyond each one's range (every line must
 * fit a frame). Returns 0, or -1 with why filled. */
int crr_keys_send_check(const crr_send_cfg_t *s, char *why, size_t len);

#endif
