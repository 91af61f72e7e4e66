/* mem: the hook's counters (atomics; see mem.h for who may arm it), the
 * per-thread count of failed allocations, and jansson's allocator that goes
 * through crr_malloc. */
#include "mem.h"

#include <jansson.h>

atomic_int crr_mem_armed_;
static atomic_long s_left;                   /* allocations still allowed while armed */
static atomic_long s_failed;                 /* allocations refused since arming */
static atomic_int s_once;                    /* refuse one allocation only */
static _Thread_local unsigned long s_thread; /* failed allocations of this thread */

int crr_mem_refuse_(void)
{
    long left = atomic_fetch_sub_explicit(&s_left, 1, memory_order_relaxed);
    if (left > 0 || (left < 0 && atomic_load_explicit(&s_once, memory_order_relaxed)))
        return 0;
    atomic_fetch_add_explicit(&s_failed, 1, memory_order_relaxed);
    return 1;
}

void *crr_mem_failed_(void)
{
    s_thread++;
    return NULL;
}

unsigned long crr_mem_thread_failures(void)
{
    return s_thread;
}

static void *s_json_malloc(size_t n)
{
    return crr_malloc(n);
}

/* Before main, so no thread is using jansson yet; jansson frees with free(). */
__attribute__((constructor)) static void s_json_install(void)
{
    json_set_alloc_funcs(s_json_malloc, free);
}

static void s_arm(long n, int once)
{
    atomic_store(&crr_mem_armed_, 0);
    atomic_store(&s_once, once);
    atomic_store(&s_left, n < 0 ? 0 : n);
    atomic_store(&s_failed, 0);
    atomic_store(&crr_mem_armed_, 1);
}

void crr_mem_fail_after(long n)
{
    s_arm(n, 0);
}

void crr_mem_fail_once(long n)
{
    s_arm(n, 1);
}

void crr_mem_fail_off(void)
{
    atomic_store(&crr_mem_armed_, 0);
}

long crr_mem_failed(void)
{
    return atomic_load(&s_failed);
}
