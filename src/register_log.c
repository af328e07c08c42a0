/*
 * The log line of each job a registration batch ran: the registration's
 * outcome in numbers and names (gw_register.h). Its own file so that the
 * batch code stays about the database.
 */
#include "gw_channel.h"
#include "gw_log.h"
#include "gw_register.h"

/*
 * One line per contact registered (its ticket, customer, channel, where it
 * went) and per operation run: numbers and names only, never the contact's
 * sender or words. A database that is away is logged once by db.c, not once
 * per contact it turned away. Here, so that every path to the database
 * (the workers, the poller, a one-shot command) logs alike. A historical
 * contact (intake import-mail) is logged at debug: the import shows its own
 * progress and summary, and an archive would otherwise log a line a message.
 * The line names the job's request (the thread's own when the job has none).
 */
static void log_outcome(const struct gw_intake_job *job)
{
    const struct gw_intake_result *r = &job->result;
    const char *op = job->kind == GW_JOB_OPERATION ? (job->operation ? job->operation->name : NULL)
                     : job->contact.registered_by  ? job->contact.registered_by->name
                                                   : NULL;
    if (job->kind == GW_JOB_PING || r->err == GW_ERR_DB_UNAVAILABLE)
        return;
    enum gw_log_level done = job->contact.historical ? GW_LOG_DEBUG : GW_LOG_INFO;
    if (r->err != GW_OK) {
        gw_event(GW_LOG_WARN, job->kind == GW_JOB_REGISTER ? "contact.refused" : "operation.failed",
                 GW_STR("channel", job->contact.channel), GW_STR("op", op),
                 GW_STR("error", gw_strerror(r->err)), GW_STR("detail", r->detail));
    } else if (job->kind == GW_JOB_OPERATION) {
        gw_event(GW_LOG_DEBUG, "operation.done", GW_STR("op", op),
                 GW_STR("ticket", r->ticket[0] ? r->ticket : NULL));
    } else if (r->left_out) {
        gw_event(done, "contact.left_out", GW_STR("channel", job->contact.channel),
                 GW_STR("detail", r->detail));
    } else if (r->duplicate) {
        gw_event(done, "contact.duplicate", GW_STR("channel", job->contact.channel),
                 GW_STR("op", op), GW_STR("ticket", r->ticket[0] ? r->ticket : NULL));
    } else {
        gw_event(done, "contact.registered", GW_STR("ticket", r->ticket[0] ? r->ticket : NULL),
                 GW_STR("customer", r->customer[0] ? r->customer : NULL),
                 GW_STR("channel", job->contact.channel), GW_STR("op", op),
                 GW_STR("new", r->new_ticket ? "ticket"
                               : r->reopened ? "reopened"
                                             : NULL),
                 GW_STR("category", r->category[0] ? r->category : NULL),
                 GW_STR("priority", r->priority[0] ? r->priority : NULL),
                 GW_STR("queue", r->queue[0] ? r->queue : NULL));
    }
}

void gw_register_log_outcome(const struct gw_intake_job *job)
{
    const char *was = gw_job_log_request(job);
    log_outcome(job);
    gw_log_set_request(was);
}
