/*
 * `intake import-mail` against a real PostgreSQL: an mbox and a Maildir
 * (with a Maildir++ subfolder, a plain one, and a trash folder left out) made here, with a thread
 * across both archives, replies before the message they answer, a message without a Message-ID, a
 * broken one and one that is not mail; tickets, threads, dates, no outbox rows, the summary; a
 * second run imports nothing new; an import interrupted (SIGINT) and killed (SIGKILL) midway leaves
 * only whole batches and the next run stores every message exactly once; files and folders that are
 * no archive; the shared corpus as an mbox.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "import_env.h"

static struct import_env fx;

static int setup(void **state)
{
    *state = &fx;
    return import_env_start(&fx, "import_mail");
}

static int teardown(void **state)
{
    (void)state;
    return import_env_stop(&fx);
}

/* `intake import-mail ARGS` with the database down. */
__attribute__((format(printf, 3, 4))) static int import_unreachable(char *out, size_t cap,
                                                                    const char *fmt, ...)
{
    char url[256];
    harness_unreachable_db_url(url, sizeof(url));
    va_list ap;
    va_start(ap, fmt);
    int rc = import_env_run_on(url, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

/* The archive: the reply comes first, its original second (the archive is not in date order). */
static const char mbox_text[] = "From alice@example.com Tue Mar  5 09:00:00 2024\n"
                                "From: Alice <alice@example.com>\n"
                                "To: help@desk.example\n"
                                "Subject: Re: printer broken\n"
                                "Date: Tue, 05 Mar 2024 09:00:00 +0000\n"
                                "Message-ID: <reply1@example.com>\n"
                                "In-Reply-To: <orig1@example.com>\n"
                                "References: <orig1@example.com>\n"
                                "\n"
                                "It still does not work.\n"
                                ">From the manual I tried everything.\n"
                                "\n"
                                "From alice@example.com Mon Mar  4 10:00:00 2024\n"
                                "From: Alice <alice@example.com>\n"
                                "To: help@desk.example\n"
                                "Subject: printer broken\n"
                                "Date: Mon, 04 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <orig1@example.com>\n"
                                "\n"
                                "My printer is broken.\n"
                                "\n"
                                "From bob@example.com Mon Mar  4 11:00:00 2024\n"
                                "this is not mail at all, only a line of text\n"
                                "\n"
                                "From carol@example.com Wed Mar  6 10:00:00 2024\n"
                                "From: Carol <carol@example.com>\n"
                                "Subject: where is my order\n"
                                "Date: Wed, 06 Mar 2024 10:00:00 +0000\n"
                                "\n"
                                "Order 4711 has not arrived.\n"
                                "\n"
                                "From dave@example.com Thu Mar  7 10:00:00 2024\n"
                                "From: Dave <dave@example.com>\n"
                                "Subject: broken attachment\n"
                                "Date: Thu, 07 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <broken1@example.com>\n"
                                "MIME-Version: 1.0\n"
                                "Content-Type: multipart/mixed; boundary=\"XYZ\"\n"
                                "\n"
                                "--XYZ\n"
                                "Content-Type: text/plain\n"
                                "\n"
                                "The invoice is attached.\n"
                                "--XYZ\n"
                                "Content-Type: application/pdf\n"
                                "Content-Transfer-Encoding: base64\n"
                                "\n"
                                "JVBERi0xLjQK!!not base64 at all\n"
                                "\n"
                                "From erin@example.com Fri Mar  1 08:30:00 2024\n"
                                "From: Erin <erin@example.com>\n"
                                "Subject: no date in this one\n"
                                "Message-ID: <nodate1@example.com>\n"
                                "\n"
                                "The archive's own line has the date.\n";

static const char *mbox_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/archive.mbox", fx.dir);
    return buf;
}

static void test_mbox_import(void **state)
{
    (void)state;
    char path[128], out[8192];
    import_env_write(mbox_path(path, sizeof(path)), mbox_text, strlen(mbox_text));
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    import_env_expect(out, "imported: 5 (4 new tickets, 0 sent by the desk)");
    import_env_expect(out, "already there: 0");
    import_env_expect(out, "refused: 1");
    /* The third message, named by its number and byte offset, without its content. */
    const char *third = strstr(mbox_text, "From bob@");
    char where[96];
    snprintf(where, sizeof(where), "message 3 (byte offset %td): not a message", third - mbox_text);
    import_env_expect(out, where);
    assert_null(strstr(out, "bob@example.com"));

    /* The reply was first in the archive and still joined its original's ticket. */
    harness_pg_text_is(fx.pg,
                       "SELECT count(*) || ' ' || min(t.created_at AT TIME ZONE 'UTC') || ' ' || "
                       "max(m.received_at AT TIME ZONE 'UTC') FROM messages m JOIN tickets t ON "
                       "t.id = m.ticket_id WHERE m.external_ref IN ('orig1@example.com', "
                       "'reply1@example.com') GROUP BY t.id",
                       "2 2024-03-04 10:00:00 2024-03-05 09:00:00");
    /* History: resolved at its last message, imported, nobody's, dated as the mail. */
    harness_pg_text_is(fx.pg,
                       "SELECT t.status || ' ' || (t.resolved_at AT TIME ZONE 'UTC') || ' ' || "
                       "(t.imported_at IS NOT NULL) || ' ' || (t.assignee_id IS NULL) FROM "
                       "tickets t JOIN messages m ON m.ticket_id = t.id WHERE m.external_ref = "
                       "'orig1@example.com'",
                       "resolved 2024-03-05 09:00:00 true true");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE created_at <> "
                                            "received_at OR received_at > '2024-04-01'"),
                     0);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM ticket_events WHERE created_at "
                                            "> '2024-04-01' OR NOT (detail ? 'imported')"),
                     0);
    /* Nothing sent: no acknowledgement, no notification, no survey. */
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM surveys"), 0);
    /* Without a Date: the mbox line's. Without a Message-ID: a content hash. */
    harness_pg_text_is(fx.pg,
                       "SELECT received_at AT TIME ZONE 'UTC' FROM messages WHERE external_ref = "
                       "'nodate1@example.com'",
                       "2024-03-01 08:30:00");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE external_ref "
                                            "LIKE '%@derived.intake' AND subject = 'where is my "
                                            "order'"),
                     1);
    /* The broken one is a ticket a person can read. */
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE external_ref = "
                                            "'broken1@example.com' AND body LIKE '%invoice%'"),
                     1);
    /* mboxrd's escaping is undone in the message kept. */
    assert_int_equal(harness_pg_long(fx.pg,
                                     "SELECT count(*) FROM message_sources s JOIN messages m ON "
                                     "m.id = s.message_id WHERE m.external_ref = "
                                     "'reply1@example.com' AND position('\nFrom the manual' IN "
                                     "convert_from(s.raw, 'UTF8')) > 0"),
                     1);
}

static void test_rerun_imports_nothing_new(void **state)
{
    (void)state;
    char path[128], out[8192];
    long before = harness_pg_long(fx.pg, "SELECT count(*) FROM messages");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", mbox_path(path, sizeof(path))), 0);
    import_env_expect(out, "imported: 0 (0 new tickets, 0 sent by the desk)");
    import_env_expect(out, "already there: 5");
    import_env_expect(out, "refused: 1");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages"), before);
}

/*
 * A Maildir with a reply to the mbox's thread (a thread across archives),
 * and a thread of its own whose reply's file name sorts before its
 * original's, in a Maildir++ subfolder.
 */
static void test_maildir_import(void **state)
{
    (void)state;
    char path[256], out[8192];
    const char *dirs[] = {"maildir", "maildir/cur", "maildir/new", "maildir/tmp",
                          "maildir/.Support"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fx.dir, dirs[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    import_env_maildir_file(
        &fx, "cur", "1709802000.M1P1.host:2,S",
        "From: Alice <alice@example.com>\nSubject: Re: printer broken\n"
        "Date: Thu, 07 Mar 2024 09:00:00 +0000\nMessage-ID: <reply2@example.com>\n"
        "In-Reply-To: <reply1@example.com>\n"
        "References: <orig1@example.com> <reply1@example.com>\n\nFixed now, thanks.\n");
    import_env_maildir_file(&fx, "new", "1709900000.M2P1.host", "\x89PNG\r\n\x1a\n\x00\x01binary");
    import_env_maildir_file(&fx, ".Support/cur", "1000.M3P1.host:2,S",
                            "From: Frank <frank@example.com>\nSubject: Re: login fails\n"
                            "Date: Sat, 09 Mar 2024 12:00:00 +0000\nMessage-ID: <f2@example.com>\n"
                            "In-Reply-To: <f1@example.com>\n\nStill failing.\n");
    import_env_maildir_file(
        &fx, ".Support/new", "2000.M4P1.host",
        "From: Frank <frank@example.com>\nSubject: login fails\n"
        "Date: Fri, 08 Mar 2024 12:00:00 +0000\nMessage-ID: <f1@example.com>\n\n"
        "I cannot log in.\n");
    /* A folder of Maildirs (mbsync's layout) beside the Maildir++ ones. */
    snprintf(path, sizeof(path), "%s/maildir/Archive", fx.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    import_env_maildir_file(
        &fx, "Archive/new", "500.M7P1.host",
        "From: Frank <frank@example.com>\nSubject: Re: login fails\n"
        "Date: Sun, 10 Mar 2024 12:00:00 +0000\nMessage-ID: <f3@example.com>\n"
        "In-Reply-To: <f2@example.com>\nReferences: <f1@example.com> <f2@example.com>\n"
        "\nWorks again.\n");
    import_env_maildir_file(&fx, "Archive/cur", "", NULL);
    snprintf(path, sizeof(path), "%s/maildir/.Trash", fx.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    import_env_maildir_file(&fx, ".Trash/cur", "3000.M5P1.host:2,ST",
                            "From: Gina <gina@example.com>\nSubject: deleted\n"
                            "Message-ID: <trash1@example.com>\n\nDeleted mail.\n");
    import_env_maildir_file(&fx, ".Trash/new", "3001.M6P1.host",
                            "From: Gina <gina@example.com>\n\nx\n");
    snprintf(path, sizeof(path), "%s/maildir", fx.dir);
    long tickets = harness_pg_long(fx.pg, "SELECT count(*) FROM tickets");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    import_env_expect(out, "(Maildir, 5 messages)");
    import_env_expect(out, "imported: 4 (1 new tickets, 0 sent by the desk)");
    import_env_expect(out, "refused: 1");
    import_env_expect(out, "(new/1709900000.M2P1.host): not a message");
    import_env_expect(out, "folders left out: .Trash (");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE external_ref = "
                                            "'trash1@example.com'"),
                     0);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM tickets"), tickets + 1);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(DISTINCT ticket_id) FROM messages "
                                            "WHERE external_ref IN ('orig1@example.com', "
                                            "'reply1@example.com', 'reply2@example.com')"),
                     1);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(DISTINCT ticket_id) FROM messages "
                                            "WHERE external_ref IN ('f1@example.com', "
                                            "'f2@example.com', 'f3@example.com')"),
                     1);
    /* The thread's ticket ends with its latest message, from the other archive. */
    harness_pg_text_is(fx.pg,
                       "SELECT t.resolved_at AT TIME ZONE 'UTC' FROM tickets t JOIN messages m ON "
                       "m.ticket_id = t.id WHERE m.external_ref = 'orig1@example.com'",
                       "2024-03-07 09:00:00");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
}

static void test_not_an_archive(void **state)
{
    (void)state;
    char path[256], out[4096];
    snprintf(path, sizeof(path), "%s/one.eml", fx.dir);
    const char *one = "From: a@example.com\nSubject: hi\n\nhello\n";
    import_env_write(path, one, strlen(one));
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 65);
    import_env_expect(out, path);
    import_env_expect(out, "not an mbox");
    snprintf(path, sizeof(path), "%s/archive.mbox.gz", fx.dir);
    import_env_write(path, "\x1f\x8b\x08\x00", 4);
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 65);
    import_env_expect(out, "compressed");
    snprintf(path, sizeof(path), "%s/folder", fx.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 65);
    import_env_expect(out, path);
    import_env_expect(out, "not a Maildir");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s/nowhere.mbox", fx.dir), 66);
    import_env_expect(out, "nowhere.mbox: No such file or directory");
    /* A database that cannot be reached: try again later (75). */
    assert_int_equal(import_unreachable(out, sizeof(out), "%s", mbox_path(path, sizeof(path))), 75);
    import_env_expect(out, "cannot reach the database; nothing was imported");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", ""), 64);
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "--frobnicate %s", path), 64);
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "--batch 0 %s", path), 64);
}

/*
 * An mbox of n small messages from 200 customers, every third a reply to the
 * one before; their Message-IDs are <TAGi@example.com>.
 */
static void write_big_mbox(const char *path, int n, const char *tag)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        int customer = i % 200;
        fprintf(f,
                "From c%d@example.com Mon Jan  6 10:00:00 2025\n"
                "From: Customer <c%d@example.com>\nSubject: question %d\n"
                "Date: Mon, 06 Jan 2025 10:%02d:%02d +0000\nMessage-ID: <%s%d@example.com>\n",
                customer, customer, i, i / 60 % 60, i % 60, tag, i);
        if (i % 3 == 2 && i >= 200)
            fprintf(f, "In-Reply-To: <%s%d@example.com>\n", tag, i - 200);
        fprintf(f, "\nHello, this is question %d about my order.\n\n", i);
    }
    fclose(f);
}

/* Starts an import; returns its pid once it printed its first progress line. */
static pid_t start_and_wait_for_progress(const char *path)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        setenv("INTAKE_DATABASE_URL", fx.db.url, 1);
        unsetenv("INTAKE_CONFIG");
        execl(INTAKE_BINARY, INTAKE_BINARY, "import-mail", "--batch", "40", "--progress-seconds",
              "0.05", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *err = fdopen(fds[0], "r");
    char line[512];
    bool progress = false;
    while (!progress && fgets(line, sizeof(line), err))
        progress = strstr(line, "import-mail: ") && strstr(line, " messages (");
    fclose(err); /* later progress lines go nowhere (SIGPIPE is not fatal to the check) */
    assert_true(progress);
    return pid;
}

/* Every message with its source, every ticket with its messages. */
static void expect_nothing_half_stored(void)
{
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages m WHERE NOT EXISTS "
                                            "(SELECT 1 FROM message_sources s WHERE s.message_id "
                                            "= m.id)"),
                     0);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM tickets t WHERE NOT EXISTS "
                                            "(SELECT 1 FROM messages m WHERE m.ticket_id = t.id)"),
                     0);
}

#define BIG  "SELECT count(*) FROM messages WHERE external_ref LIKE 'big%@example.com'"
#define GONE "SELECT count(*) FROM messages WHERE external_ref LIKE 'gone%@example.com'"

/*
 * Waits for the import's connections to end: a batch the killed client had
 * sent whole (its Sync included) still commits, whole, after the client died.
 */
static void wait_for_backends(void)
{
    assert_int_equal(harness_pg_wait(fx.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND application_name = 'intake-command'",
                                     0),
                     0);
}

/*
 * Interrupted (SIGINT), then killed (SIGKILL), each after its first
 * progress line: only whole batches are stored each time, and the last run
 * stores what is left, every message exactly once.
 */
static void test_interrupted_and_killed_imports_resume(void **state)
{
    (void)state;
    char path[256], out[8192];
    const int n = 3000;
    snprintf(path, sizeof(path), "%s/big.mbox", fx.dir);
    write_big_mbox(path, n, "big");
    signal(SIGPIPE, SIG_IGN);

    pid_t pid = start_and_wait_for_progress(path);
    kill(pid, SIGINT);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    wait_for_backends();
    long after_int = harness_pg_long(fx.pg, BIG);
    /* Exit 130, or 0 when the last batch was already in hand. */
    assert_true(WIFEXITED(st) && (WEXITSTATUS(st) == 130 || after_int == n));
    assert_true(after_int > 0);

    pid = start_and_wait_for_progress(path);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    wait_for_backends();
    long after_kill = harness_pg_long(fx.pg, BIG);
    assert_true(after_kill >= after_int);
    expect_nothing_half_stored();

    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    char want[64];
    snprintf(want, sizeof(want), "already there: %ld", after_kill);
    import_env_expect(out, want);
    assert_int_equal(harness_pg_long(fx.pg, BIG), n);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM (SELECT external_ref FROM "
                                            "messages GROUP BY 1 HAVING count(*) > 1) d"),
                     0);
    /* Replies found their originals whichever run stored them. */
    assert_int_equal(harness_pg_long(fx.pg,
                                     "SELECT count(*) FROM messages r JOIN messages o ON "
                                     "o.external_ref = 'big' || (substring(r.external_ref FROM "
                                     "'big([0-9]+)@')::int - 200) || '@example.com' WHERE "
                                     "r.external_ref LIKE 'big%' AND substring(r.external_ref "
                                     "FROM 'big([0-9]+)@')::int % 3 = 2 AND substring("
                                     "r.external_ref FROM 'big([0-9]+)@')::int >= 200 AND "
                                     "o.ticket_id <> r.ticket_id"),
                     0);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
}

/* The shared corpus, every file one message of an mbox (mboxrd-escaped). */
/*
 * The database ends the import's connections mid-run (as a crash or a
 * failover does): the import stops with 75 (try again later) and says so,
 * what it stored is whole, and the next run stores the rest, every message
 * exactly once.
 */
static void test_database_gone_mid_import(void **state)
{
    (void)state;
    char path[256], out[8192], log[300];
    const int n = 3000;
    snprintf(path, sizeof(path), "%s/gone.mbox", fx.dir);
    write_big_mbox(path, n, "gone");
    snprintf(log, sizeof(log), "%s/gone.log", fx.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        setenv("INTAKE_DATABASE_URL", fx.db.url, 1);
        unsetenv("INTAKE_CONFIG");
        execl(INTAKE_BINARY, INTAKE_BINARY, "import-mail", "--batch", "20", path, (char *)NULL);
        _exit(127);
    }
    /* Once some of it is stored, the server ends every connection of the import. */
    assert_true(
        harness_pg_wait(fx.pg,
                        "SELECT least(count(*), 1) FROM messages WHERE external_ref LIKE 'gone%'",
                        1) == 1);
    harness_pg_exec(fx.pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "datname = current_database() AND application_name = 'intake-command'");
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t len = fread(out, 1, sizeof(out) - 1, f);
    out[len] = '\0';
    fclose(f);
    wait_for_backends();
    long stored = harness_pg_long(fx.pg, GONE);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 75)
        fail_msg("expected exit 75 after %ld of %d messages, got status %d:\n%s", stored, n, st,
                 out);
    import_env_expect(out, "the database went away");
    assert_true(stored < n);
    expect_nothing_half_stored();

    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    assert_int_equal(harness_pg_long(fx.pg, GONE), n);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM (SELECT external_ref FROM "
                                            "messages GROUP BY 1 HAVING count(*) > 1) d"),
                     0);
}

static void test_corpus_as_mbox(void **state)
{
    (void)state;
    const char *corpus = INTAKE_SOURCE_DIR "/../shared/corpus/mail-gem";
    const char *folders[] = {"plain_emails", "error_emails", "multi_charset", "mime_emails"};
    char path[256], out[16384];
    snprintf(path, sizeof(path), "%s/corpus.mbox", fx.dir);
    FILE *mbox = fopen(path, "w");
    assert_non_null(mbox);
    int files = 0;
    for (size_t k = 0; k < sizeof(folders) / sizeof(folders[0]); k++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", corpus, folders[k]);
        DIR *d = opendir(dir);
        if (!d)
            fail_msg("no corpus folder %s", dir);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strstr(de->d_name, ".eml"))
                continue;
            char file[1024];
            snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
            FILE *in = fopen(file, "r");
            assert_non_null(in);
            fprintf(mbox, "From corpus@example.com Thu Jan  1 10:00:00 2015\n");
            char line[65536];
            size_t len = 1;
            while (fgets(line, sizeof(line), in)) {
                const char *p = line;
                while (*p == '>')
                    p++;
                if (!strncmp(p, "From ", 5))
                    fputc('>', mbox);
                fputs(line, mbox);
                len = strlen(line);
                line[0] = len ? line[len - 1] : '\n';
            }
            /* The message ends with a line end, then an empty line before the next. */
            fputs(len && line[0] == '\n' ? "\n" : "\n\n", mbox);
            fclose(in);
            files++;
        }
        closedir(d);
    }
    fclose(mbox);
    assert_true(files > 20);
    long before = harness_pg_long(fx.pg, "SELECT count(*) FROM messages");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    char want[64];
    snprintf(want, sizeof(want), "(mbox, %d messages)", files);
    import_env_expect(out, want);
    import_env_expect(out, "refused: 0");
    long imported = harness_pg_long(fx.pg, "SELECT count(*) FROM messages") - before;
    snprintf(want, sizeof(want), "imported: %ld (", imported);
    import_env_expect(out, want);
    /* The rest share a Message-ID with a file before them. */
    snprintf(want, sizeof(want), "already there: %ld", files - imported);
    import_env_expect(out, want);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mbox_import),
        cmocka_unit_test(test_rerun_imports_nothing_new),
        cmocka_unit_test(test_maildir_import),
        cmocka_unit_test(test_not_an_archive),
        cmocka_unit_test(test_interrupted_and_killed_imports_resume),
        cmocka_unit_test(test_database_gone_mid_import),
        cmocka_unit_test(test_corpus_as_mbox),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
