/*
 * The registration transaction on one connection. A batch of contacts is sent
 * in libpq pipeline mode followed by one Sync: one round trip and one implicit
 * transaction, so the batch commits (and pays for one WAL flush) together.
 * Consecutive contacts of one kind without a raw source go as one statement
 * whose parameter is a JSON array of their documents (intake_*_many() in
 * db/functions/register.sql, or an adapter operation's function_many),
 * answering one row each: every statement costs the backend a bind, an
 * executor start-up and a result, about a tenth of a small contact's time.
 * Contacts an adapter registers through its own operation (a state change
 * of something the database follows) go to that operation's statements.
 * Results count only once the Sync arrives without an error. If one contact
 * fails, the whole implicit transaction is rolled back, and each contact is
 * retried alone, so a poison contact fails by itself.
 */
#include "gw_register.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_channel.h"
#include "gw_classify.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_log.h"
#include "gw_replay.h"

#define REGISTER_STMT   "gw_register"
#define SESSION_STMT    "gw_session_message"
#define REGISTER_MANY   "gw_register_many"
#define SESSION_MANY    "gw_session_message_many"
#define SUMMARY_CHARS   200
#define RETRIES_ON_RACE 3

static enum gw_err prepare(PGconn *conn, const char *name, const char *sql, int n_params)
{
    PGresult *res = PQprepare(conn, name, sql, n_params, NULL);
    enum gw_err err = PQresultStatus(res) == PGRES_COMMAND_OK ? GW_OK : GW_ERR_DB;
    if (err != GW_OK)
        gw_error("database: cannot prepare %s: %s", name, PQresultErrorMessage(res));
    PQclear(res);
    return err;
}

/*
 * An operation's statements, named after its row (the one over an array
 * after its function). The function names are the adapter's constants,
 * never input, so they are written into the text.
 */
static enum gw_err prepare_operation(PGconn *conn, const struct gw_operation *op)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT %s($1::jsonb)", op->function);
    enum gw_err err = prepare(conn, op->name, sql, 1);
    if (err == GW_OK && op->function_many) {
        snprintf(sql, sizeof(sql), "SELECT %s($1::jsonb)", op->function_many);
        err = prepare(conn, op->function_many, sql, 1);
    }
    return err;
}

enum gw_err gw_register_prepare(PGconn *conn)
{
    enum gw_err err =
        prepare(conn, REGISTER_STMT, "SELECT intake_register_contact($1::jsonb, $2::bytea)", 2);
    if (err == GW_OK)
        err = prepare(conn, SESSION_STMT, "SELECT intake_session_message($1::jsonb, $2::bytea)", 2);
    if (err == GW_OK)
        err = prepare(conn, REGISTER_MANY, "SELECT intake_register_many($1::jsonb)", 1);
    if (err == GW_OK)
        err = prepare(conn, SESSION_MANY, "SELECT intake_session_message_many($1::jsonb)", 1);
    if (err == GW_OK)
        err = prepare_operation(conn, &gw_op_session_events);
    for (const struct gw_channel *const *c = gw_channels; *c && err == GW_OK; c++)
        for (size_t i = 0; i < (*c)->n_operations && err == GW_OK; i++)
            err = prepare_operation(conn, &(*c)->operations[i]);
    return err;
}

/* The first SUMMARY_CHARS characters of the body on one line, cut on a UTF-8 boundary. */
static json_t *summary_of(const char *body)
{
    if (!body)
        return json_null();
    char buf[SUMMARY_CHARS * 4 + 1];
    size_t out = 0, chars = 0;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)body; *p && chars < SUMMARY_CHARS;) {
        if (*p == '\r' || *p == '\n' || *p == '\t' || *p == ' ') {
            space = out > 0;
            p++;
            continue;
        }
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        size_t avail = strnlen((const char *)p, n);
        if (avail < n)
            break;
        if (space) {
            buf[out++] = ' ';
            space = 0;
        }
        memcpy(buf + out, p, n);
        out += n;
        p += n;
        chars++;
    }
    buf[out] = '\0';
    return json_string(buf);
}

static void set_str(json_t *doc, const char *key, const char *val)
{
    if (val)
        json_object_set_new(doc, key, json_string(val));
}

char *gw_register_document(const struct gw_config *cfg, const struct gw_contact *c)
{
    struct gw_classification cls = gw_classify(cfg, c->subject, c->body);
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    set_str(doc, "key", c->idempotency_key);
    set_str(doc, "channel", c->channel);
    set_str(doc, "external_ref", c->external_ref);
    set_str(doc, "ticket_ref", c->ticket_ref);
    if (c->n_thread_refs) {
        json_t *refs = json_array();
        for (size_t i = 0; i < c->n_thread_refs; i++)
            json_array_append_new(refs, json_string(c->thread_refs[i]));
        json_object_set_new(doc, "thread_refs", refs);
    }
    if (c->n_cc) {
        json_t *cc = json_array();
        for (size_t i = 0; i < c->n_cc; i++)
            json_array_append_new(cc, json_string(c->cc[i]));
        json_object_set_new(doc, "cc", cc);
    }
    set_str(doc, "name", c->sender.name);
    set_str(doc, "email", c->sender.email);
    set_str(doc, "phone", c->sender.phone);
    set_str(doc, "chat_id", c->sender.chat_id);
    set_str(doc, "company", c->sender.company);
    set_str(doc, "language_explicit", c->sender.language);
    /* The customer's words without what they quoted (a reply quotes our acknowledgement). */
    set_str(doc, "language_detected",
            gw_detect_language(c->subject, c->summary ? c->summary : c->body, !c->text_is_ours));
    set_str(doc, "subject", c->subject);
    set_str(doc, "body", c->body);
    json_object_set_new(doc, "summary", summary_of(c->summary ? c->summary : c->body));
    set_str(doc, "product", c->product);
    set_str(doc, "reply_handle", c->reply_handle);
    set_str(doc, "no_ack_reason", c->no_ack_reason);
    set_str(doc, "bounce_of", c->bounce_of);
    if (c->received_at)
        json_object_set_new(doc, "received_at", json_integer((json_int_t)c->received_at));
    if (c->historical)
        json_object_set_new(doc, "historical", json_true());
    if (c->outbound) {
        /* The desk's own message: db/functions/register_outbound.sql. */
        json_object_set_new(doc, "direction", json_string("out"));
        set_str(doc, "to_email", c->recipient.email);
        set_str(doc, "to_name", c->recipient.name);
    }
    set_str(doc, "category", cls.category->name);
    set_str(doc, "queue", cls.category->queue);
    set_str(doc, "priority", gw_priority_name(cls.priority));
    json_object_set_new(doc, "first_response_s",
                        json_integer(c->respond_within_s > 0
                                         ? c->respond_within_s
                                         : cfg->sla[cls.priority].first_response_s));
    json_object_set_new(doc, "handling_s", json_integer(cfg->sla[cls.priority].handling_s));
    json_object_set_new(doc, "resolve_s", json_integer(cfg->resolve_s[0]));
    set_str(doc, "ticket_prefix", cfg->ticket_prefix);
    set_str(doc, "customer_prefix", cfg->customer_prefix);
    /* Deadlines in business time; without a calendar the database adds plain time. */
    if (cfg->business_hours)
        json_object_set_new(doc, "calendar", json_loads(cfg->business_hours, 0, NULL));
    if (c->n_attachments) {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->n_attachments; i++) {
            const struct gw_attachment *a = &c->attachments[i];
            char hex[65];
            for (int j = 0; j < 32; j++)
                snprintf(hex + 2 * j, 3, "%02x", a->sha256[j]);
            json_t *o = json_pack("{s:s?, s:s?, s:I, s:s}", "filename", a->filename, "content_type",
                                  a->content_type, "size", (json_int_t)a->size, "sha256", hex);
            json_array_append_new(arr, o);
        }
        json_object_set_new(doc, "attachments", arr);
    }
    if (c->registered_by && c->registered_by->describe)
        c->registered_by->describe(c, doc);
    if (c->session)
        json_object_set_new(doc, "session",
                            json_pack("{s:I, s:s?, s:I}", "id", (json_int_t)c->session->session,
                                      "client_id", c->session->client_id, "after",
                                      (json_int_t)c->session->after));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void copy_field(char *dst, size_t cap, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    snprintf(dst, cap, "%s", s ? s : "");
}

static void read_result(const char *text, struct gw_intake_job *job)
{
    struct gw_intake_result *r = &job->result;
    memset(r, 0, sizeof(*r));
    /* Operations, session messages and adapters' contacts answer with more than these. */
    if (job->kind == GW_JOB_OPERATION || job->contact.session || job->contact.registered_by) {
        r->document = gw_arena_strdup(job->arena, text);
        if (!r->document)
            r->err = GW_ERR_NOMEM;
        if (job->kind == GW_JOB_OPERATION)
            return;
    }
    json_t *o = json_loads(text, 0, NULL);
    if (!o) {
        r->err = GW_ERR_DB;
        return;
    }
    r->duplicate = json_is_true(json_object_get(o, "duplicate"));
    r->new_ticket = json_is_true(json_object_get(o, "new_ticket"));
    r->new_customer = json_is_true(json_object_get(o, "new_customer"));
    r->reopened = json_is_true(json_object_get(o, "reopened"));
    r->left_out = json_is_true(json_object_get(o, "left_out"));
    if (r->left_out)
        copy_field(r->detail, sizeof(r->detail), o, "why");
    copy_field(r->ticket, sizeof(r->ticket), o, "ticket");
    copy_field(r->customer, sizeof(r->customer), o, "customer");
    copy_field(r->category, sizeof(r->category), o, "category");
    copy_field(r->priority, sizeof(r->priority), o, "priority");
    copy_field(r->queue, sizeof(r->queue), o, "queue");
    copy_field(r->language, sizeof(r->language), o, "language");
    /* [session, seq]: see gw_intake_result. */
    json_t *announce = json_object_get(o, "announce");
    if (json_array_size(announce) == 2) {
        r->announce_session = json_integer_value(json_array_get(announce, 0));
        r->announce_seq = json_integer_value(json_array_get(announce, 1));
    }
    json_decref(o);
}

/*
 * PIPE_TAKEN: a unique violation on a number the database makes itself, so
 * running the contact again makes the same collision (see number_taken).
 */
enum pipeline_outcome { PIPE_COMMITTED, PIPE_BROKEN, PIPE_RETRY, PIPE_FAILED, PIPE_TAKEN };

/*
 * The unique keys whose values the database generates (ticket and customer
 * numbers from their sequences). A collision on one is no race between two
 * contacts: the sequence is behind the numbers already stored (data restored
 * or written by hand), and every new ticket would collide alike.
 */
static bool is_generated_key(const PGresult *res)
{
    static const char *const generated_keys[] = {"tickets_number_key", "customers_number_key"};
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (!state || strcmp(state, "23505") || !constraint)
        return false;
    for (size_t i = 0; i < sizeof(generated_keys) / sizeof(generated_keys[0]); i++)
        if (!strcmp(constraint, generated_keys[i]))
            return true;
    return false;
}

/* The statement that runs one job, its parameter count, and the statement for a run of them. */
static const char *statement_of(const struct gw_intake_job *job, int *n_params, const char **many)
{
    const struct gw_contact *c = &job->contact;
    *n_params = 1;
    *many = NULL;
    if (job->kind == GW_JOB_OPERATION)
        return job->operation->name;
    if (c->registered_by) {
        *many = c->registered_by->function_many;
        return c->registered_by->name;
    }
    if (!c->raw)
        *many = c->session ? SESSION_MANY : REGISTER_MANY;
    *n_params = 2;
    return c->session ? SESSION_STMT : REGISTER_STMT;
}

/* One statement sent: the jobs first .. first + count - 1, each answered by one row. */
struct sent_statement {
    size_t first, count;
};

/* "[doc,doc,...]" of docs[first .. first + count - 1]. */
static char *json_array_of(const char **docs, size_t first, size_t count)
{
    size_t len = 2;
    for (size_t i = first; i < first + count; i++)
        len += strlen(docs[i]) + 1;
    char *out = malloc(len + 1), *p = out;
    if (!out)
        return NULL;
    *p++ = '[';
    for (size_t i = first; i < first + count; i++) {
        size_t n = strlen(docs[i]);
        memcpy(p, docs[i], n);
        p += n;
        *p++ = i + 1 < first + count ? ',' : ']';
    }
    *p = '\0';
    return out;
}

/* Sends the jobs with documents as statements, a run of one kind as one; returns how many. */
static size_t send_statements(PGconn *conn, struct gw_intake_job **jobs, const char **docs,
                              size_t n, struct sent_statement *sent, bool *ok)
{
    size_t n_sent = 0;
    *ok = true;
    for (size_t i = 0; i < n && *ok;) {
        if (!docs[i]) {
            i++;
            continue;
        }
        int n_params;
        const char *many, *stmt = statement_of(jobs[i], &n_params, &many);
        size_t run = 1;
        while (many && i + run < n && docs[i + run]) {
            int np;
            const char *m2;
            statement_of(jobs[i + run], &np, &m2);
            if (m2 != many)
                break;
            run++;
        }
        if (run > 1) {
            char *array = json_array_of(docs, i, run);
            const char *params[] = {array};
            *ok = array && PQsendQueryPrepared(conn, many, 1, params, NULL, NULL, 0) == 1;
            free(array);
        } else {
            /* The raw message goes as a binary parameter: no escaping, no copy in JSON. */
            const struct gw_contact *c = &jobs[i]->contact;
            const char *params[] = {docs[i], (const char *)c->raw};
            const int lengths[] = {0, (int)c->raw_len};
            const int formats[] = {0, 1};
            *ok = PQsendQueryPrepared(conn, stmt, n_params, params, lengths, formats, 0) == 1;
        }
        sent[n_sent++] = (struct sent_statement){i, run};
        i += run;
    }
    return n_sent;
}

/*
 * Sends docs as one pipeline and reads every result. On PIPE_FAILED, *failed
 * is the index of the first job of the statement that raised and *state its
 * SQLSTATE.
 */
static enum pipeline_outcome run_pipeline(PGconn *conn, struct gw_intake_job **jobs,
                                          const char **docs, size_t n, size_t *failed, char *state)
{
    struct sent_statement *sent = malloc((n ? n : 1) * sizeof(*sent));
    if (!sent || PQenterPipelineMode(conn) != 1) {
        free(sent);
        return PIPE_BROKEN;
    }
    bool ok;
    size_t n_sent = send_statements(conn, jobs, docs, n, sent, &ok);
    /* A batch of readiness probes alone still proves a round trip works. */
    if (ok && n_sent == 0)
        ok = PQsendQueryParams(conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0) == 1;
    if (!ok || PQpipelineSync(conn) != 1)
        goto broken;

    enum pipeline_outcome outcome = PIPE_COMMITTED;
    for (size_t q = 0; q < (n_sent ? n_sent : 1); q++) {
        PGresult *res;
        while ((res = PQgetResult(conn)) != NULL) {
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_TUPLES_OK && n_sent && (size_t)PQntuples(res) == sent[q].count) {
                for (size_t r = 0; r < sent[q].count; r++)
                    read_result(PQgetvalue(res, (int)r, 0), jobs[sent[q].first + r]);
            } else if (st == PGRES_TUPLES_OK && n_sent && outcome == PIPE_COMMITTED) {
                /* A statement that answered for fewer jobs than it was given. */
                snprintf(state, 6, "%s", "XX000");
                *failed = sent[q].first;
                outcome = PIPE_FAILED;
                gw_warn("database: %d answers for %zu contacts", PQntuples(res), sent[q].count);
            } else if (st == PGRES_FATAL_ERROR && outcome == PIPE_COMMITTED) {
                const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                snprintf(state, 6, "%s", s ? s : "?????");
                *failed = n_sent ? sent[q].first : 0;
                if (is_generated_key(res))
                    outcome = PIPE_TAKEN; /* logged once, by number_taken */
                else {
                    outcome = gw_db_is_retryable(res) ? PIPE_RETRY : PIPE_FAILED;
                    gw_warn("database: registration statement failed (sqlstate %s)", state);
                }
            }
            PQclear(res);
        }
        if (gw_db_is_broken(conn))
            goto broken;
    }
    free(sent);
    PGresult *sync = PQgetResult(conn);
    int synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced || PQexitPipelineMode(conn) != 1)
        return PIPE_BROKEN;
    return outcome;
broken:
    free(sent);
    gw_warn("database: connection lost during registration");
    return PIPE_BROKEN;
}

static void fail_all(struct gw_intake_job **jobs, size_t n, enum gw_err err)
{
    for (size_t i = 0; i < n; i++) {
        memset(&jobs[i]->result, 0, sizeof(jobs[i]->result));
        jobs[i]->result.err = err;
    }
}

/* The connection broke under the jobs: nothing of theirs is known to be stored. */
static void fail_unreachable(struct gw_intake_job **jobs, size_t n)
{
    fail_all(jobs, n, GW_ERR_DB_UNAVAILABLE);
    for (size_t i = 0; i < n; i++)
        jobs[i]->result.unreachable = true;
}

/* A 23505 that escaped the advisory lock is a duplicate racing us: run it again. */
static int is_unique_violation(const char *state)
{
    return !strcmp(state, "23505");
}

/*
 * A contact that would take a number already stored. It is not lost: the
 * sender is told to retry (503, EX_TEMPFAIL), which succeeds once the
 * operator has moved the sequence on. Logged once while it lasts, not once
 * per contact: at a few thousand contacts a second that is the whole log.
 */
static void number_taken(struct gw_intake_job *job)
{
    gw_log_begin("register.number_taken", GW_LOG_ERROR,
                 "database: a new ticket or customer number is already taken; the number "
                 "sequences are behind the stored numbers, so no new ticket can be made until "
                 "they are set past them (docs/operations.md, \"Numbers\"); contacts are "
                 "answered 503 meanwhile");
    fail_all(&job, 1, GW_ERR_DB_UNAVAILABLE);
    snprintf(job->result.detail, sizeof(job->result.detail), "%s",
             "a ticket number the database made is already taken; retry later");
}

static enum gw_err run_single_job(PGconn *conn, struct gw_intake_job *job, const char *doc);

/* One job alone, its lines naming its request. */
static enum gw_err run_single(PGconn *conn, struct gw_intake_job *job, const char *doc)
{
    const char *was = gw_job_log_request(job);
    enum gw_err err = run_single_job(conn, job, doc);
    gw_log_set_request(was);
    return err;
}

static enum gw_err run_single_job(PGconn *conn, struct gw_intake_job *job, const char *doc)
{
    for (int attempt = 0; attempt < RETRIES_ON_RACE; attempt++) {
        size_t failed = 0;
        char state[6] = "";
        enum pipeline_outcome o = run_pipeline(conn, &job, &doc, 1, &failed, state);
        if (o == PIPE_COMMITTED)
            return GW_OK;
        if (o == PIPE_BROKEN) {
            fail_unreachable(&job, 1);
            return GW_ERR_DB_UNAVAILABLE;
        }
        if (o == PIPE_TAKEN) {
            number_taken(job);
            return GW_OK;
        }
        if (o == PIPE_FAILED && !is_unique_violation(state)) {
            fail_all(&job, 1, state[0] == '2' && state[1] == '2' ? GW_ERR_INVALID : GW_ERR_DB);
            snprintf(job->result.detail, sizeof(job->result.detail),
                     "the database rejected the contact (sqlstate %s)", state);
            return GW_OK;
        }
    }
    fail_all(&job, 1, GW_ERR_DB);
    return GW_OK;
}

/*
 * The lock a job takes first: its session's for a session message, its
 * order key's when its adapter gave one (the changes of one thing apply one
 * at a time), else its idempotency key's. Operations sort before contacts.
 */
static void lock_name(const struct gw_intake_job *job, char *out, size_t cap)
{
    const struct gw_contact *c = &job->contact;
    if (job->kind != GW_JOB_REGISTER)
        snprintf(out, cap, "%s", "");
    else if (c->session)
        snprintf(out, cap, "session:%lld", c->session->session);
    else if (c->order_key)
        snprintf(out, cap, "%s", c->order_key);
    else
        snprintf(out, cap, "%s", c->idempotency_key ? c->idempotency_key : "");
}

struct ordered_job {
    struct gw_intake_job *job;
    size_t arrival;
    char lock[192];
};

static int by_lock_then_arrival(const void *a, const void *b)
{
    const struct ordered_job *x = a, *y = b;
    int c = strcmp(x->lock, y->lock);
    return c ? c : (x->arrival > y->arrival) - (x->arrival < y->arrival);
}

/*
 * Every batch takes its locks in the same (name) order, so two workers'
 * batches can wait for each other but never in a cycle: no deadlocks, which
 * would cost deadlock_timeout and a retry. Contacts of one order key keep
 * their arrival order.
 */
static bool order_by_lock(struct gw_intake_job **jobs, size_t n)
{
    struct ordered_job *o = malloc(n * sizeof(*o));
    if (!o)
        return false;
    for (size_t i = 0; i < n; i++) {
        o[i].job = jobs[i];
        o[i].arrival = i;
        lock_name(jobs[i], o[i].lock, sizeof(o[i].lock));
    }
    qsort(o, n, sizeof(*o), by_lock_then_arrival);
    for (size_t i = 0; i < n; i++)
        jobs[i] = o[i].job;
    free(o);
    return true;
}

static enum gw_err register_jobs(PGconn *conn, const struct gw_config *cfg,
                                 struct gw_intake_job **jobs_in, size_t n, bool by_lock)
{
    if (n == 0)
        return GW_OK;
    struct gw_intake_job **jobs = malloc(n * sizeof(*jobs));
    if (!jobs) {
        fail_all(jobs_in, n, GW_ERR_NOMEM);
        return GW_OK;
    }
    memcpy(jobs, jobs_in, n * sizeof(*jobs));
    if (by_lock && n > 1 && !order_by_lock(jobs, n)) {
        free(jobs);
        fail_all(jobs_in, n, GW_ERR_NOMEM);
        return GW_OK;
    }
    /* Documents come prebuilt from gw_intake_submit; others are built (and freed) here. */
    const char **docs = calloc(n, sizeof(*docs));
    char **built = calloc(n, sizeof(*built));
    if (!docs || !built) {
        free(docs);
        free(built);
        free(jobs);
        fail_all(jobs_in, n, GW_ERR_NOMEM);
        return GW_OK;
    }
    for (size_t i = 0; i < n; i++) {
        memset(&jobs[i]->result, 0, sizeof(jobs[i]->result));
        if (jobs[i]->kind == GW_JOB_OPERATION) {
            docs[i] = jobs[i]->operation ? jobs[i]->document : NULL;
            if (!docs[i])
                jobs[i]->result.err = GW_ERR_INVALID;
            continue;
        }
        if (jobs[i]->kind != GW_JOB_REGISTER)
            continue;
        if (!jobs[i]->document)
            built[i] = gw_register_document(cfg, &jobs[i]->contact);
        docs[i] = jobs[i]->document ? jobs[i]->document : built[i];
        if (!docs[i])
            jobs[i]->result.err = GW_ERR_NOMEM;
    }
    enum gw_err ret = GW_OK;
    enum pipeline_outcome o = PIPE_RETRY;
    size_t failed = 0, n_docs = 0;
    for (int attempt = 0; attempt < RETRIES_ON_RACE && o == PIPE_RETRY; attempt++) {
        char state[6] = "";
        o = run_pipeline(conn, jobs, docs, n, &failed, state);
    }
    for (size_t i = 0; i < n; i++)
        n_docs += docs[i] != NULL;
    if (o == PIPE_BROKEN) {
        fail_unreachable(jobs, n);
        ret = GW_ERR_DB_UNAVAILABLE;
    } else if (o == PIPE_TAKEN && n_docs == 1) {
        /* Running it alone would only take (and waste) another number. */
        const char *was = gw_job_log_request(jobs[failed]);
        number_taken(jobs[failed]);
        gw_log_set_request(was);
    } else if (o != PIPE_COMMITTED) {
        /*
         * The batch rolled back, so results read before the failure are void.
         * Isolate the culprit: everyone else commits on their own; whoever is
         * not reached because the connection broke is told to retry.
         */
        for (size_t i = 0; i < n; i++)
            if (docs[i])
                fail_unreachable(&jobs[i], 1);
        for (size_t i = 0; i < n && ret == GW_OK; i++)
            if (docs[i])
                ret = run_single(conn, jobs[i], docs[i]);
    }
    for (size_t i = 0; i < n; i++)
        gw_register_log_outcome(jobs[i]);
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->kind == GW_JOB_REGISTER && jobs[i]->result.err == GW_OK &&
            jobs[i]->result.new_ticket) {
            gw_log_end("register.number_taken", "database: new tickets get numbers again");
            break;
        }
    for (size_t i = 0; i < n; i++)
        free(built[i]);
    free(built);
    free(docs);
    free(jobs);
    return ret;
}

enum gw_err gw_register_batch(PGconn *conn, const struct gw_config *cfg,
                              struct gw_intake_job **jobs, size_t n)
{
    return register_jobs(conn, cfg, jobs, n, true);
}

enum gw_err gw_register_in_order(PGconn *conn, const struct gw_config *cfg,
                                 struct gw_intake_job **jobs, size_t n)
{
    return register_jobs(conn, cfg, jobs, n, false);
}
