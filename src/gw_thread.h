/*
 * A background thread that sleeps between passes: a stop flag, a kick (more
 * work is waiting) and a timed wait that either ends, all under one lock and
 * one condition. The poller and the outbox dispatcher are built on it.
 */
#ifndef GW_THREAD_H
#define GW_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#include "gw_error.h"

struct gw_thread {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool kicked;   /* set by gw_thread_kick, cleared by a kickable wait */
    bool stopping; /* set once by gw_thread_stop */
};

/* Starts main(arg) on t (the caller's memory, zeroed or not); GW_ERR_NOMEM when
 * it cannot. */
GW_MUST_USE enum gw_err gw_thread_start(struct gw_thread *t, void *(*main)(void *), void *arg);
bool gw_thread_stopping(struct gw_thread *t);
/* Ends the thread's current or next kickable wait. */
void gw_thread_kick(struct gw_thread *t);
/*
 * On the thread: sleeps ms, or less when stopping; when kickable a kick ends
 * it too, and is consumed. A kick that is not waited for stays for the next
 * kickable wait.
 */
void gw_thread_wait(struct gw_thread *t, double ms, bool kickable);
/* Asks the thread to stop, wakes it, joins it and frees the lock and condition.
 */
void gw_thread_stop(struct gw_thread *t);

#endif
