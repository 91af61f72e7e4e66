/* registry: the one table of compiled-in sinks, and the safe-id check every
 * file sink shares (atomic file writes are common/datadir.h's).
 *
 * To add a sink: write sinks/<name>.c exporting crr_sink_<name>, add a
 * CRR_WITH_SINK_<NAME> option in the top-level CMakeLists.txt, an entry below
 * and a line in sinks/CMakeLists.txt. Nothing else changes: the aggregator
 * reads its config map and open/write/close through this table. */
#include "sink.h"

#include <string.h>

const crr_sink_ops_t *const crr_sink_registry[] = {
#ifdef CRR_WITH_SINK_JSONL
    &crr_sink_jsonl,
#endif
#ifdef CRR_WITH_SINK_CSV
    &crr_sink_csv,
#endif
#ifdef CRR_WITH_SINK_WEBHOOK
    &crr_sink_webhook,
#endif
#ifdef CRR_WITH_SINK_POSTGRES
    &crr_sink_postgres,
#endif
    NULL,
};

const crr_sink_ops_t *crr_sink_find(const char *name)
{
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

int crr_sink_id_is_safe(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128 || id[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
