/* A one-connection-at-a-time HTTP/1.0-style receiver; enough for the dispatcher. */
#include "sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void handle(struct sink *s, int c)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    long want = -1;
    while (len < sizeof(buf) - 1) {
        ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            char *cl = strcasestr(buf, "content-length:");
            want = cl && cl < end ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (end && (long)(len - (size_t)(end + 4 - buf)) >= want)
            break;
    }
    pthread_mutex_lock(&s->lock);
    int i = s->count;
    int status = i < SINK_MAX && s->statuses[i] ? s->statuses[i] : 200;
    if (i < SINK_MAX && end) {
        s->headers[i] = strndup(buf, (size_t)(end - buf));
        s->bodies[i] = strdup(end + 4);
    }
    s->count++;
    pthread_mutex_unlock(&s->lock);
    if (status == SINK_HOLD) {
        /* A receiver that hangs: wait for the sender to give up or die. */
        char drain[512];
        while (recv(c, drain, sizeof(drain), 0) > 0)
            ;
        close(c);
        return;
    }
    char reply[128];
    int n = snprintf(reply, sizeof(reply),
                     "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    if (send(c, reply, (size_t)n, 0) < 0)
        perror("sink send");
    close(c);
}

static void *serve(void *arg)
{
    struct sink *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c >= 0)
            handle(s, c);
    }
    return NULL;
}

void sink_start(struct sink *s, const int *statuses, int n_statuses)
{
    sink_start_on(s, 0, statuses, n_statuses);
}

void sink_start_on(struct sink *s, int port, const int *statuses, int n_statuses)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < n_statuses && i < SINK_MAX; i++)
        s->statuses[i] = statuses[i];
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    listen(s->fd, 16);
    pthread_mutex_init(&s->lock, NULL);
    pthread_create(&s->thread, NULL, serve, s);
}

int sink_wait(struct sink *s, int n, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        pthread_mutex_lock(&s->lock);
        int c = s->count;
        pthread_mutex_unlock(&s->lock);
        if (c >= n || waited >= timeout_ms)
            return c;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void sink_stop(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (int i = 0; i < SINK_MAX; i++) {
        free(s->bodies[i]);
        free(s->headers[i]);
    }
    pthread_mutex_destroy(&s->lock);
}
