/*
 * A tiny HTTP receiver on loopback for outbound deliveries (callbacks,
 * webhooks): it records each request and answers with scripted statuses.
 */
#ifndef SINK_H
#define SINK_H

#include <pthread.h>

#define SINK_MAX 16
/* A status that answers nothing: the request is read and held until the client hangs up. */
#define SINK_HOLD (-1)

struct sink {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    int statuses[SINK_MAX]; /* answer for request i; 0 after the list: 200; SINK_HOLD: none */
    int count;              /* requests received */
    char *bodies[SINK_MAX];
    char *headers[SINK_MAX];
    int stop;
};

void sink_start(struct sink *s, const int *statuses, int n_statuses);
/* The same on a given port (0: any free one). */
void sink_start_on(struct sink *s, int port, const int *statuses, int n_statuses);
/* Waits up to timeout_ms for at least n requests; returns the count seen. */
int sink_wait(struct sink *s, int n, int timeout_ms);
void sink_stop(struct sink *s);

#endif
