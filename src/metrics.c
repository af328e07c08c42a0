/* Prometheus text rendering of the loop's counters. */
#include "gw_metrics.h"

#include <inttypes.h>

void gw_metrics_count_result(struct gw_metrics *m, const struct gw_intake_job *job)
{
    if (job->kind != GW_JOB_REGISTER)
        return;
    if (job->result.err != GW_OK)
        m->failed++;
    else if (job->result.duplicate)
        m->duplicates++;
    else {
        m->registered++;
        m->new_tickets += job->result.new_ticket;
    }
}

char *gw_metrics_render(const struct gw_metrics *m, struct gw_arena *arena, size_t in_flight)
{
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
        "intake_socket_messages_total %" PRIu64 "\n",
        m->registered, m->duplicates, m->new_tickets, m->failed, m->rejected, m->responses[2],
        m->responses[4], m->responses[5], in_flight, m->sockets_open, m->socket_messages);
}
