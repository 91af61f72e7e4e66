/* mem: the allocation wrappers of the paths the out-of-memory tests cover
 * (the JSON codec, the aggregator's apply path, the spool), with a fault
 * hook. Owns no allocation policy: crr_malloc, crr_calloc, crr_realloc and
 * crr_strdup are malloc, calloc, realloc and strdup, what they return is
 * freed with free() (so it mixes with the C library and with protobuf-c's
 * default allocator, which frees the JSON codec's messages).
 *
 * jansson allocates through crr_malloc too (json_set_alloc_funcs, installed
 * when the program loads, before main), so that a JSON parse can tell a line
 * that is not JSON from memory that ran out (crr_mem_thread_failures), and
 * so that the hook reaches JSON parsing and dumping.
 *
 * The hook (tests only): crr_mem_fail_after(n) lets the next n allocations
 * through and makes every one after it fail (NULL, errno ENOMEM) until
 * crr_mem_fail_off(), so a loop over n = 0, 1, 2... reaches each allocation
 * of an operation and every error path after it; crr_mem_fail_once(n) fails
 * the allocation after the n-th only.
 *
 * Out of production's reach: only a call inside the process arms the hook
 * (no environment variable, no option, no signal). Unarmed, an allocation
 * pays one relaxed atomic load and a predictable branch before the C
 * library's.
 *
 * Threading: any thread may allocate. The hook's count is process-wide: arm
 * and disarm from the thread under test while no other thread allocates
 * through these wrappers. crr_mem_thread_failures is per thread. */
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

/* Internal: counts a failed allocation of the calling thread; returns NULL. */
void *crr_mem_failed_(void);

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
    void *r = crr_mem_fails_() ? NULL : malloc(n);
    return r ? r : crr_mem_failed_();
}

/* calloc(n, size), or NULL when it or the hook fails. */
static inline void *crr_calloc(size_t n, size_t size)
{
    void *r = crr_mem_fails_() ? NULL : calloc(n, size);
    return r ? r : crr_mem_failed_();
}

/* realloc(p, n), or NULL (p untouched) when it or the hook fails. */
static inline void *crr_realloc(void *p, size_t n)
{
    void *r = crr_mem_fails_() ? NULL : realloc(p, n);
    return r ? r : crr_mem_failed_();
}

/* strdup(s), or NULL when it or the hook fails. */
static inline char *crr_strdup(const char *s)
{
    char *r = crr_mem_fails_() ? NULL : strdup(s);
    return r ? r : crr_mem_failed_();
}

/* Allocations through these wrappers (and jansson) that failed on the
 * calling thread, hooked or not, since it started: compare before and after
 * a call to know whether memory ran out inside it. */
unsigned long crr_mem_thread_failures(void);

/* Arms the hook: the next n allocations through these wrappers (and
 * jansson) succeed, every later one fails. Resets crr_mem_failed(). */
void crr_mem_fail_after(long n);

/* Arms the hook for one failure: the next n allocations succeed, the one
 * after fails, and the later ones succeed again (a transient shortage: the
 * error path and the callers that degrade instead of failing run with
 * memory). Resets crr_mem_failed(). */
void crr_mem_fail_once(long n);

/* Disarms the hook: every allocation goes to the C library again. */
void crr_mem_fail_off(void);

/* Allocations refused since the last crr_mem_fail_after (0 = the operation
 * ran without an injected failure). */
long crr_mem_failed(void);

#endif
