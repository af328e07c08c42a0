/*
 * `intake customer`: a person's data on request (PIPL, GDPR).
 *   intake customer export WHO [--output FILE.zip]
 *   intake customer erase WHO --yes
 * WHO is a customer number, an email address or a phone number (E.164).
 * Export prints everything held about the person as one JSON document, or
 * writes a zip with that document (customer.json), the raw mail as it
 * arrived (sources/) and the attachments (attachments/). Erase removes their
 * personal data everywhere it is kept and leaves the tickets as anonymous
 * records; --yes is required, as there is no undoing it. The database does
 * the work in one transaction each (db/functions/privacy.sql) and records it
 * in the audit trail. Exit status: 0 done, 64 usage, 65 no such customer or
 * an ambiguous one (nothing changed), 69 database unavailable, 73 the file
 * cannot be written.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_db.h"

enum { EXIT_USAGE = 64, EXIT_DATAERR = 65, EXIT_UNAVAILABLE = 69, EXIT_CANTCREAT = 73 };

static int usage(void)
{
    fputs("usage: intake customer export NUMBER|EMAIL|PHONE [--output FILE.zip]\n"
          "       intake customer erase NUMBER|EMAIL|PHONE --yes\n",
          stderr);
    return EXIT_USAGE;
}

/* Runs sql with two text parameters; its one JSON answer (caller frees), or NULL. */
static json_t *call(PGconn *conn, const char *sql, const char *a, const char *b, int *rc)
{
    PGresult *res = desk_call(conn, "intake customer", sql, a, b, rc);
    json_t *out = res ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (res && !out)
        *rc = EXIT_DATAERR;
    PQclear(res);
    return out;
}

/* The document and the customer's files (raw mail, attachments) in a zip at path. */
static int write_zip(PGconn *conn, const char *path, const json_t *doc, const char *number)
{
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) {
        fprintf(stderr, "intake customer: cannot write %s\n", path);
        return EXIT_CANTCREAT;
    }
    char *text = json_dumps(doc, JSON_INDENT(2));
    bool ok = text && desk_zip_add(z, "customer.json", text, strlen(text));
    free(text);
    const char *params[] = {number};
    PGresult *res =
        PQexecParams(conn, "SELECT intake_customer_files($1)", 1, NULL, params, NULL, NULL, 0);
    ok = ok && PQresultStatus(res) == PGRES_TUPLES_OK;
    for (int r = 0; ok && r < PQntuples(res); r++) {
        json_t *f = json_loads(PQgetvalue(res, r, 0), 0, NULL);
        ok = desk_zip_add_file(z, f);
        json_decref(f);
    }
    PQclear(res);
    if (!ok || zip_close(z) != 0) {
        fprintf(stderr, "intake customer: cannot write %s\n", path);
        if (!ok)
            zip_discard(z);
        remove(path);
        return EXIT_CANTCREAT;
    }
    fprintf(stderr, "wrote %s\n", path);
    return 0;
}

static int export_customer(PGconn *conn, const char *who, const char *output)
{
    char by[128];
    int rc = 0;
    json_t *answer = call(conn, "SELECT intake_customer_export($1, $2)", who,
                          desk_cli_actor(by, sizeof(by)), &rc);
    if (!answer)
        return rc;
    const json_t *doc = json_object_get(answer, "document");
    if (!doc) {
        fprintf(stderr, "intake customer: %s\n",
                json_string_value(json_object_get(answer, "error")));
        json_decref(answer);
        return EXIT_DATAERR;
    }
    if (output) {
        rc = write_zip(
            conn, output, doc,
            json_string_value(json_object_get(json_object_get(doc, "customer"), "number")));
    } else {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    json_decref(answer);
    return rc;
}

static int erase_customer(PGconn *conn, const char *who)
{
    char by[128];
    int rc = 0;
    json_t *answer = call(conn, "SELECT intake_customer_erase($1, $2)", who,
                          desk_cli_actor(by, sizeof(by)), &rc);
    if (!answer)
        return rc;
    const char *error = json_string_value(json_object_get(answer, "error"));
    if (error) {
        fprintf(stderr, "intake customer: %s\n", error);
        rc = EXIT_DATAERR;
    } else {
        printf("erased the personal data of %s: %lld tickets (kept as anonymous records), "
               "%lld messages, %lld calls, %lld chat sessions\n",
               json_string_value(json_object_get(answer, "customer")),
               (long long)json_integer_value(json_object_get(answer, "tickets")),
               (long long)json_integer_value(json_object_get(answer, "messages")),
               (long long)json_integer_value(json_object_get(answer, "calls")),
               (long long)json_integer_value(json_object_get(answer, "chat_sessions")));
    }
    json_decref(answer);
    return rc;
}

int desk_customer_command(int argc, char **argv, const struct gw_config *cfg)
{
    if (argc < 3)
        return usage();
    const char *verb = argv[1], *who = argv[2], *output = NULL;
    bool yes = false;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc)
            output = argv[++i];
        else if (!strcmp(argv[i], "--yes"))
            yes = true;
        else
            return usage();
    }
    bool is_export = !strcmp(verb, "export"), is_erase = !strcmp(verb, "erase");
    if ((!is_export && !is_erase) || (is_export && yes) || (is_erase && output))
        return usage();
    if (is_erase && !yes) {
        fprintf(stderr, "intake customer: erasing cannot be undone; add --yes to do it\n");
        return EXIT_USAGE;
    }
    PGconn *conn = NULL;
    if (gw_db_connect(cfg->database_url, "intake-customer", &conn) != GW_OK) {
        fprintf(stderr, "intake customer: cannot reach the database\n");
        return EXIT_UNAVAILABLE;
    }
    int rc = is_export ? export_customer(conn, who, output) : erase_customer(conn, who);
    PQfinish(conn);
    return rc;
}
