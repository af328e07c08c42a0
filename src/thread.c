/*
 * The stop, kick and timed wait that the core's sleeping threads (poller,
 * outbox dispatcher) share, written once. The deadline is on the realtime
 * clock because that is what pthread_cond_timedwait measures by default; the
 * waits are short, so a clock step costs at most one early or late pass.
 */
#include "gw_thread.h"

#include <errno.h>
#include <time.h>

enum gw_err gw_thread_start(struct gw_thread *t, void *(*main)(void *), void *arg)
{
    t->kicked = t->stopping = false;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    if (pthread_create(&t->thread, NULL, main, arg) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->wake);
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

bool gw_thread_stopping(struct gw_thread *t)
{
    pthread_mutex_lock(&t->lock);
    bool s = t->stopping;
    pthread_mutex_unlock(&t->lock);
    return s;
}

void gw_thread_kick(struct gw_thread *t)
{
    pthread_mutex_lock(&t->lock);
    t->kicked = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
}

void gw_thread_wait(struct gw_thread *t, double ms, bool kickable)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = (long long)until.tv_nsec + (long long)(ms * 1e6);
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&t->lock);
    while (!t->stopping && !(kickable && t->kicked))
        if (pthread_cond_timedwait(&t->wake, &t->lock, &until) == ETIMEDOUT)
            break;
    if (kickable)
        t->kicked = false;
    pthread_mutex_unlock(&t->lock);
}

void gw_thread_stop(struct gw_thread *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
}
