/* replay_main: runs a fuzz target without libFuzzer. Usage:
 *   fuzz_<target> CORPUS_DIR [MUTANTS_PER_SEED]
 * Replays every file of CORPUS_DIR, then MUTANTS_PER_SEED (default 2000)
 * deterministic mutations of each (bit flips, byte overwrites with boundary
 * values, truncations, duplicated runs), seeded by the file's position so a
 * failure is repeatable. Prints "N inputs replayed" and exits 0; a crash or
 * sanitizer report is the failure. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One mutant of seed[0..len) into out (cap bytes); returns its length. */
static size_t s_mutate(const uint8_t *seed, size_t len, uint8_t *out, size_t cap, uint64_t *rng)
{
    static const uint8_t edge[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '{', '}', '[',  ']',  ':',
                                   ',',  '\\', '\n', '=',  '0',  '9', 'e', '-', 0x1a, 0x0a, 0x12};
    size_t n = len < cap ? len : cap;
    memcpy(out, seed, n);
    int edits = 1 + (int)(s_next(rng) % 4);
    for (int e = 0; e < edits; e++) {
        uint64_t r = s_next(rng);
        size_t at = n ? (size_t)(s_next(rng) % n) : 0;
        switch (r % 5) {
        case 0:
            if (n)
                out[at] ^= (uint8_t)(1u << (r >> 8) % 8);
            break;
        case 1:
            if (n)
                out[at] = edge[(r >> 8) % sizeof edge];
            break;
        case 2:
            n = at; /* truncate */
            break;
        case 3: { /* duplicate a run */
            size_t run = 1 + (size_t)((r >> 8) % 16);
            if (at + run <= n && n + run <= cap) {
                memmove(out + at + run, out + at, n - at);
                n += run;
            }
            break;
        }
        default:
            if (n < cap) { /* insert a boundary byte */
                memmove(out + at + 1, out + at, n - at);
                out[at] = edge[(r >> 8) % sizeof edge];
                n++;
            }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [MUTANTS_PER_SEED]\n", argv[0]);
        return 64;
    }
    long mutants = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    char *names[1024];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 1024)
        if (de->d_name[0] != '.')
            names[nn++] = strdup(de->d_name);
    closedir(d);
    qsort(names, nn, sizeof *names, s_cmp);
    size_t cap = 1 << 20;
    uint8_t *seed = malloc(cap), *mut = malloc(cap + 64);
    long total = 0;
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            perror(path);
            return 1;
        }
        size_t len = fread(seed, 1, cap, f);
        fclose(f);
        LLVMFuzzerTestOneInput(seed, len);
        total++;
        uint64_t rng = 0x5eed0000ULL + i;
        for (long m = 0; m < mutants; m++) {
            size_t ml = s_mutate(seed, len, mut, cap + 64, &rng);
            LLVMFuzzerTestOneInput(mut, ml);
            total++;
        }
        free(names[i]);
    }
    free(seed);
    free(mut);
    printf("%ld inputs replayed from %zu seeds\n", total, nn);
    return nn ? 0 : 1;
}
