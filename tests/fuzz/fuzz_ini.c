/* fuzz_ini: an INI config file as every daemon loads it (--config FILE),
 * through the config-map loader with every value type, the per-line error
 * reporting included. The bytes are written to one temporary file per run. */
#include "fuzz.h"

#include "cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    char *data_dir;
    int64_t window;
    int verbose;
    double ratio;
    uint64_t max_bytes;
    int64_t timeout_ms;
} s_conf_t;

#define O(f) offsetof(s_conf_t, f)
static const crr_cfg_entry_t s_table[] = {
    {"aggregator", "data_dir", CRR_CFG_STR, "/x", 0, 0, O(data_dir), "data-dir", "folder"},
    {"aggregator", "window", CRR_CFG_INT, "64", 1, 4096, O(window), NULL, "frames"},
    {"aggregator", "verbose", CRR_CFG_BOOL, "false", 0, 0, O(verbose), NULL, "chatty"},
    {"tune", "ratio", CRR_CFG_DOUBLE, "0.5", 0, 1, O(ratio), NULL, "ratio"},
    {"tune", "max_bytes", CRR_CFG_SIZE, "1M", 0, 0, O(max_bytes), NULL, "size"},
    {"tune", "timeout", CRR_CFG_DURATION, "5s", 0, 0, O(timeout_ms), NULL, "duration"},
    CRR_CFG_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/crr-fuzz-ini-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    s_conf_t c = {0};
    crr_diag_t d;
    char *argv[] = {"fuzz", "--config", path, NULL};
    char *rest[4];
    int nrest;
    crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d);
    crr_cfg_free(s_table, &c);
    unlink(path);
    return 0;
}
