/*
 * The desk's commands:
 *   intake agent add --name NAME --email EMAIL [--role agent|lead|supervisor]
 *                    [--capacity N] [--queues q1,q2]   (again: updates the agent)
 *   intake agent token EMAIL|ID    a new token, printed once (the old one stops working)
 *   intake agent list
 *   intake agent disable EMAIL|ID
 *   intake sla-scan [--at TIME]    one SLA scan now (or as if it were TIME)
 * Exit status: 0 done, 64 usage, 65 refused input, 69 database unavailable.
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_token.h"

enum { EXIT_USAGE = 64, EXIT_DATAERR = 65, EXIT_UNAVAILABLE = 69 };

PGresult *desk_call(PGconn *conn, const char *command, const char *sql, const char *a,
                    const char *b, int *rc)
{
    const char *params[] = {a, b};
    int n_params = b ? 2 : a ? 1 : 0;
    PGresult *res =
        PQexecParams(conn, sql, n_params, NULL, n_params ? params : NULL, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        return res;
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    fprintf(stderr, "%s: %s\n", command, msg ? msg : PQerrorMessage(conn));
    *rc = gw_db_is_broken(conn)               ? EXIT_UNAVAILABLE
          : state && !strncmp(state, "22", 2) ? EXIT_USAGE
                                              : EXIT_DATAERR;
    PQclear(res);
    return NULL;
}

const char *desk_cli_actor(char *buf, size_t cap)
{
    const char *user = getenv("USER");
    snprintf(buf, cap, "cli%s%s", user ? ":" : "", user ? user : "");
    return buf;
}

/*
 * Runs sql (a call of one of the database's functions, db/functions/) with
 * up to two parameters on a connection of its own and prints its one
 * answer, or returns it in *answer (malloc'd; "" for NULL).
 */
static int run_call(const struct gw_config *cfg, const char *sql, const char *param,
                    const char *param2, char **answer)
{
    PGconn *conn = NULL;
    if (gw_db_connect(cfg->database_url, "intake-cli", &conn) != GW_OK) {
        fprintf(stderr, "intake: cannot reach the database\n");
        return EXIT_UNAVAILABLE;
    }
    /* Who changed an agent, for the audit trail's trigger (db/functions/audit.sql). */
    char by[128];
    const char *actor = desk_cli_actor(by, sizeof(by));
    PQclear(PQexecParams(conn, "SELECT set_config('intake.actor', $1, false)", 1, NULL, &actor,
                         NULL, NULL, 0));
    int rc = 0;
    PGresult *res = desk_call(conn, "intake", sql, param, param2, &rc);
    if (res && answer)
        *answer = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    else if (res)
        puts(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int usage(void)
{
    fputs("usage: intake agent add --name NAME --email EMAIL [--role agent|lead|supervisor]\n"
          "                        [--capacity N] [--queues q1,q2]\n"
          "       intake agent token EMAIL|ID\n"
          "       intake agent list\n"
          "       intake agent disable EMAIL|ID\n",
          stderr);
    return EXIT_USAGE;
}

static int agent_add(int argc, char **argv, const struct gw_config *cfg)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},   {"email", required_argument, NULL, 'e'},
        {"role", required_argument, NULL, 'r'},   {"capacity", required_argument, NULL, 'c'},
        {"queues", required_argument, NULL, 'q'}, {NULL, 0, NULL, 0}};
    json_t *doc = json_object();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'c') {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 10000) {
                fprintf(stderr, "intake: --capacity must be 0..10000\n");
                json_decref(doc);
                return EXIT_USAGE;
            }
            json_object_set_new(doc, "capacity", json_integer(n));
        } else if (o == 'q') {
            json_t *qs = json_array();
            char *copy = strdup(optarg), *save = NULL;
            for (char *q = copy ? strtok_r(copy, ",", &save) : NULL; q;
                 q = strtok_r(NULL, ",", &save))
                json_array_append_new(qs, json_string(q));
            free(copy);
            json_object_set_new(doc, "queues", qs);
        } else if (o == 'n' || o == 'e' || o == 'r') {
            json_object_set_new(doc,
                                o == 'n'   ? "name"
                                : o == 'e' ? "email"
                                           : "role",
                                json_string(optarg));
        } else {
            json_decref(doc);
            return usage();
        }
    }
    const char *role = json_string_value(json_object_get(doc, "role"));
    if (!json_object_get(doc, "name") || !json_object_get(doc, "email") || optind != argc ||
        (role && strcmp(role, "agent") && strcmp(role, "lead") && strcmp(role, "supervisor"))) {
        json_decref(doc);
        return usage();
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int rc = text ? run_call(cfg, "SELECT intake_agent_add($1::jsonb)", text, NULL, NULL) : 70;
    free(text);
    return rc;
}

static int agent_token(const char *who, const struct gw_config *cfg)
{
    char token[GW_TOKEN_CHARS + 1], hash[65];
    if (!gw_token_new(token, sizeof(token))) {
        fprintf(stderr, "intake: no randomness available\n");
        return 71;
    }
    gw_token_hash(token, hash);
    char *answer = NULL;
    int rc = run_call(cfg, "SELECT intake_agent_token($1, $2)", who, hash, &answer);
    if (rc == 0 && !*answer) {
        fprintf(stderr, "intake: no agent %s\n", who);
        rc = EXIT_DATAERR;
    } else if (rc == 0) {
        /* The only time the token is shown: the database keeps its hash. */
        printf("%s\n", token);
        fprintf(stderr, "token for %s (shown once; a new one replaces it)\n", answer);
    }
    free(answer);
    return rc;
}

int desk_agent_command(int argc, char **argv, const struct gw_config *cfg)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "add"))
        return agent_add(argc - 1, argv + 1, cfg);
    if (!strcmp(argv[1], "token") && argc == 3)
        return agent_token(argv[2], cfg);
    if (!strcmp(argv[1], "list") && argc == 2)
        return run_call(cfg, "SELECT intake_agent_list()", NULL, NULL, NULL);
    if (!strcmp(argv[1], "disable") && argc == 3) {
        char *answer = NULL;
        int rc = run_call(cfg, "SELECT intake_agent_disable($1)", argv[2], NULL, &answer);
        if (rc == 0 && strcmp(answer, "t")) {
            fprintf(stderr, "intake: no agent %s\n", argv[2]);
            rc = EXIT_DATAERR;
        }
        free(answer);
        return rc;
    }
    return usage();
}

int desk_sla_scan_command(int argc, char **argv, const struct gw_config *cfg)
{
    json_t *doc = desk_document(cfg, "sla_scan");
    if (argc == 3 && !strcmp(argv[1], "--at"))
        json_object_set_new(doc, "now", json_string(argv[2]));
    else if (argc != 1) {
        json_decref(doc);
        fputs("usage: intake sla-scan [--at TIME]\n", stderr);
        return EXIT_USAGE;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    /* A pass takes at most 10 due tickets and says when it left some: pass
     * again until it has not, printing each pass's answer. */
    int rc = text ? 0 : 70;
    for (bool more = text != NULL; more && rc == 0;) {
        char *answer = NULL;
        rc = run_call(cfg, "SELECT intake_sla_scan($1::jsonb)", text, NULL, &answer);
        json_t *got = answer ? json_loads(answer, 0, NULL) : NULL;
        more = json_is_true(json_object_get(got, "more"));
        if (answer)
            puts(answer);
        json_decref(got);
        free(answer);
    }
    free(text);
    return rc;
}
