/* mem: the allocation wrappers of the paths the out-of-memory tests cover
 * (the JSON codec, the aggregator's apply path, the spool), with a fault
 * hook. Owns no allocation policy: crr_malloc, crr_calloc, crr_realloc and
 * crr_strdup are malloc, calloc, realloc and strdup, what they return is
 * freed with free() (so it mixes with the C library and with protobuf-c's
 * default allocator, which frees the JSON codec's messages).
 *
 * The hook (tests only): crr_mem_fail_after(n) lets the next n allocations
 * through and makes every one after it fail (NULL, errno ENOMEM) until
 * crr_mem_fail_off(), so a loop over n = 0, 1, 2... reaches each allocation
 * of an operation and every error path after it. Arming also routes
 * jansson's allocations through the hook (json_set_alloc_funcs), so JSON
 * parsing and dumping fail too.
 *
 * Out of production's reach: only a call inside the process arms the hook
 * (no environment variable, no option, no signal). Unarmed, an allocation
 * pays one relaxed atomic load and a predictable branch before the C
 * library's.
 *
 * Threading: any thread may allocate. The count is process-wide: arm and
 * disarm from the thread under test while no other thread allocates through
 * these wrappers. */
#ifndef CRR_MEM_H
#define CRR_MEM_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Internal: 1 while the hook is armed. */
extern atomic_int crr_mem_armed_;

/* Internal: counts one allocation while armed; 1 when it must fail. */
int crr_mem_refuse_(void);

/* Internal: 1 when this allocation must fail (sets errno to ENOMEM). */
static inline int crr_mem_fails_(void)
{
    if (__builtin_expect(atomic_load_explicit(&crr_mem_armed_, memory_order_relaxed) != 0, 0) &&
        crr_mem_refuse_()) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

/* malloc(n), or NULL when it or the hook fails. */
static inline void *crr_malloc(size_t n)
{
    return crr_mem_fails_() ? NULL : malloc(n);
}

/* calloc(n, size), or NULL when it or the hook fails. */
static inline void *crr_calloc(size_t n, size_t size)
{
    return crr_mem_fails_() ? NULL : calloc(n, size);
}

/* realloc(p, n), or NULL (p untouched) when it or the hook fails. */
static inline void *crr_realloc(void *p, size_t n)
{
    return crr_mem_fails_() ? NULL : realloc(p, n);
}

/* strdup(s), or NULL when it or the hook fails. */
static inline char *crr_strdup(const char *s)
{
    return crr_mem_fails_() ? NULL : strdup(s);
}

/* Arms the hook: the next n allocations through these wrappers (and
 * jansson) succeed, every later one fails. Resets crr_mem_failed(). */
void crr_mem_fail_after(long n);

/* Disarms the hook: every allocation goes to the C library again. */
void crr_mem_fail_off(void);

/* Allocations refused since the last crr_mem_fail_after (0 = the operation
 * ran without an injected failure). */
long crr_mem_failed(void);

#endif
