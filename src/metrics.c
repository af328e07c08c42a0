/* Prometheus text rendering of the loop's counters. */
#include "gw_metrics.h"

#include <inttypes.h>
#include <stdio.h>

#include "gw_schema.h"

const double gw_metrics_registration_le[GW_METRICS_REGISTRATION_BUCKETS] = {
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};

static void observe_registration(struct gw_metrics *m, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    m->registration_count++;
    m->registration_seconds += seconds;
    for (int i = 0; i < GW_METRICS_REGISTRATION_BUCKETS; i++)
        if (seconds <= gw_metrics_registration_le[i]) {
            m->registration_le[i]++;
            return;
        }
}

void gw_metrics_count_result(struct gw_metrics *m, const struct gw_intake_job *job, double now)
{
    if (job->kind != GW_JOB_REGISTER || job->result.spooled)
        return; /* a spooled contact is counted by the spool, and registered by its replayer */
    if (job->result.err != GW_OK) {
        m->failed++;
        return;
    }
    if (job->result.duplicate)
        m->duplicates++;
    else {
        m->registered++;
        m->new_tickets += job->result.new_ticket;
    }
    observe_registration(m, now - job->submitted_at);
}

/* The histogram in Prometheus' text format: cumulative buckets, then +Inf, sum and count. */
static char *render_registration(const struct gw_metrics *m, struct gw_arena *arena)
{
    char text[2048];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "# HELP intake_registration_seconds From a contact's hand-over to the "
                          "database workers until its commit is answered.\n"
                          "# TYPE intake_registration_seconds histogram\n");
    uint64_t below = 0;
    for (int i = 0; i < GW_METRICS_REGISTRATION_BUCKETS && n < sizeof(text); i++) {
        below += m->registration_le[i];
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "intake_registration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                              gw_metrics_registration_le[i], below);
    }
    if (n < sizeof(text))
        n +=
            (size_t)snprintf(text + n, sizeof(text) - n,
                             "intake_registration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                             "intake_registration_seconds_sum %.6f\n"
                             "intake_registration_seconds_count %" PRIu64 "\n",
                             m->registration_count, m->registration_seconds, m->registration_count);
    return n < sizeof(text) ? gw_arena_strdup(arena, text) : NULL;
}

char *gw_metrics_render(const struct gw_metrics *m, struct gw_arena *arena, size_t in_flight)
{
    const char *histogram = render_registration(m, arena);
    if (!histogram)
        return NULL;
    return gw_arena_printf(
        arena,
        "# HELP intake_contacts_registered_total Contacts committed to the database.\n"
        "# TYPE intake_contacts_registered_total counter\n"
        "intake_contacts_registered_total %" PRIu64 "\n"
        "# HELP intake_contacts_duplicate_total Repeats of an idempotency key.\n"
        "# TYPE intake_contacts_duplicate_total counter\n"
        "intake_contacts_duplicate_total %" PRIu64 "\n"
        "# HELP intake_tickets_created_total Tickets opened.\n"
        "# TYPE intake_tickets_created_total counter\n"
        "intake_tickets_created_total %" PRIu64 "\n"
        "# HELP intake_contacts_failed_total Contacts not stored (sender told to retry or why).\n"
        "# TYPE intake_contacts_failed_total counter\n"
        "intake_contacts_failed_total %" PRIu64 "\n"
        "# HELP intake_contacts_rejected_total Requests refused by a channel as malformed.\n"
        "# TYPE intake_contacts_rejected_total counter\n"
        "intake_contacts_rejected_total %" PRIu64 "\n"
        "# HELP intake_http_responses_total HTTP responses by status class.\n"
        "# TYPE intake_http_responses_total counter\n"
        "intake_http_responses_total{class=\"2xx\"} %" PRIu64 "\n"
        "intake_http_responses_total{class=\"4xx\"} %" PRIu64 "\n"
        "intake_http_responses_total{class=\"5xx\"} %" PRIu64 "\n"
        "# HELP intake_jobs_in_flight Contacts handed to the database workers.\n"
        "# TYPE intake_jobs_in_flight gauge\n"
        "intake_jobs_in_flight %zu\n"
        "# HELP intake_sockets_open WebSockets open (chat and other socket routes).\n"
        "# TYPE intake_sockets_open gauge\n"
        "intake_sockets_open %" PRIu64 "\n"
        "# HELP intake_socket_messages_total WebSocket message fragments received.\n"
        "# TYPE intake_socket_messages_total counter\n"
        "intake_socket_messages_total %" PRIu64 "\n"
        "# HELP intake_build_info The running binary: its version and the schema it needs.\n"
        "# TYPE intake_build_info gauge\n"
        "intake_build_info{version=\"%s\",schema=\"%d\"} 1\n"
        "%s",
        m->registered, m->duplicates, m->new_tickets, m->failed, m->rejected, m->responses[2],
        m->responses[4], m->responses[5], in_flight, m->sockets_open, m->socket_messages,
        INTAKE_VERSION_STRING, gw_db_latest_version(), histogram);
}
