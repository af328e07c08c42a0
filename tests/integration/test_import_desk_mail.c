/*
 * `intake import-mail` on a help desk's own mailbox, against a real
 * PostgreSQL: an mbox mixing a customer's mail with the replies the desk
 * sent (one before the message it answers, one from an agent's address the
 * agents table knows and copied to a colleague of the customer who answers
 * it, an automatic one), a conversation the desk began, and
 * a desk message that belongs to no thread; then a Maildir whose Sent folder
 * holds a reply from an address nobody configured and a copy of mail the
 * gateway sent itself. Checks the rows (directions, tickets, no customer
 * made of the desk, no outbox rows), the first responses and the report's
 * count of them, the summary, and that a second run stores nothing twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
    if (import_env_start(&fx, "import_desk_mail") != 0)
        return -1;
    /* An agent whose address the desk's mail may come from. */
    harness_pg_exec(fx.pg, "INSERT INTO agents (name, email) VALUES ('Agnes', "
                           "'Agnes@Desk.example')");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return import_env_stop(&fx);
}

/*
 * The desk's Takeout-like mbox. The desk's first reply comes before the
 * message it answers; an auto-reply comes before the human one; the desk
 * writes to Bob first and Bob answers; a copy the desk sent itself answers
 * a message the archive does not hold.
 */
static const char mbox_text[] = "From help@desk.example Mon Mar  4 10:30:00 2024\n"
                                "From: Help Desk <help@desk.example>\n"
                                "To: Alice <alice@cust.example>\n"
                                "Subject: Re: printer broken\n"
                                "Date: Mon, 04 Mar 2024 10:30:00 +0000\n"
                                "Message-ID: <d1@desk.example>\n"
                                "In-Reply-To: <a1@cust.example>\n"
                                "\n"
                                "Please try turning it off and on.\n"
                                "\n"
                                "From alice@cust.example Mon Mar  4 10:00:00 2024\n"
                                "From: Alice <alice@cust.example>\n"
                                "To: help@desk.example\n"
                                "Subject: printer broken\n"
                                "Date: Mon, 04 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <a1@cust.example>\n"
                                "\n"
                                "My printer is broken.\n"
                                "\n"
                                "From help@desk.example Mon Mar  4 10:01:00 2024\n"
                                "From: Help Desk <help@desk.example>\n"
                                "To: alice@cust.example\n"
                                "Subject: We got your message\n"
                                "Date: Mon, 04 Mar 2024 10:01:00 +0000\n"
                                "Message-ID: <auto1@desk.example>\n"
                                "In-Reply-To: <a1@cust.example>\n"
                                "Auto-Submitted: auto-replied\n"
                                "\n"
                                "We will answer soon.\n"
                                "\n"
                                "From alice@cust.example Mon Mar  4 11:00:00 2024\n"
                                "From: Alice <alice@cust.example>\n"
                                "To: help@desk.example\n"
                                "Subject: Re: printer broken\n"
                                "Date: Mon, 04 Mar 2024 11:00:00 +0000\n"
                                "Message-ID: <a2@cust.example>\n"
                                "In-Reply-To: <d1@desk.example>\n"
                                "References: <a1@cust.example> <d1@desk.example>\n"
                                "\n"
                                "Still broken.\n"
                                "\n"
                                "From agnes@desk.example Mon Mar  4 11:15:00 2024\n"
                                "From: Agnes <agnes@desk.example>\n"
                                "To: alice@cust.example\n"
                                "Cc: help@desk.example, Carol <carol@cust.example>\n"
                                "Subject: Re: printer broken\n"
                                "Date: Mon, 04 Mar 2024 11:15:00 +0000\n"
                                "Message-ID: <d2@desk.example>\n"
                                "In-Reply-To: <a2@cust.example>\n"
                                "\n"
                                "A technician is on the way.\n"
                                "\n"
                                "From carol@cust.example Mon Mar  4 12:00:00 2024\n"
                                "From: Carol <carol@cust.example>\n"
                                "To: agnes@desk.example\n"
                                "Subject: Re: printer broken\n"
                                "Date: Mon, 04 Mar 2024 12:00:00 +0000\n"
                                "Message-ID: <c1@cust.example>\n"
                                "In-Reply-To: <d2@desk.example>\n"
                                "\n"
                                "I am Alice's colleague: the technician can come at two.\n"
                                "\n"
                                "From help@desk.example Tue Mar  5 09:00:00 2024\n"
                                "From: Help Desk <help@desk.example>\n"
                                "To: Bob Builder <bob@cust.example>\n"
                                "Subject: your order 4711 is delayed\n"
                                "Date: Tue, 05 Mar 2024 09:00:00 +0000\n"
                                "Message-ID: <d3@desk.example>\n"
                                "\n"
                                "Your order will arrive a week late.\n"
                                "\n"
                                "From bob@cust.example Tue Mar  5 10:00:00 2024\n"
                                "From: Bob Builder <bob@cust.example>\n"
                                "To: help@desk.example\n"
                                "Subject: Re: your order 4711 is delayed\n"
                                "Date: Tue, 05 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <b1@cust.example>\n"
                                "In-Reply-To: <d3@desk.example>\n"
                                "\n"
                                "That is fine.\n"
                                "\n"
                                "From help@desk.example Wed Mar  6 09:00:00 2024\n"
                                "From: Help Desk <help@desk.example>\n"
                                "To: help@desk.example\n"
                                "Subject: Re: a conversation this archive does not hold\n"
                                "Date: Wed, 06 Mar 2024 09:00:00 +0000\n"
                                "Message-ID: <d4@desk.example>\n"
                                "In-Reply-To: <gone@cust.example>\n"
                                "\n"
                                "A copy to ourselves.\n";

static const char *mbox_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/desk.mbox", fx.dir);
    return buf;
}

/* The ticket of a message, by its Message-ID. */
static long ticket_of(const char *ref)
{
    return harness_pg_longf(fx.pg, "SELECT ticket_id FROM messages WHERE external_ref = '%s'", ref);
}

static void test_desk_mailbox(void **state)
{
    (void)state;
    char path[128], out[8192];
    import_env_write(mbox_path(path, sizeof(path)), mbox_text, strlen(mbox_text));
    assert_int_equal(
        import_env_run(&fx, out, sizeof(out), "--own-address help@desk.example %s", path), 0);
    import_env_expect(out, "imported: 8 (2 new tickets, 4 sent by the desk)");
    import_env_expect(out, "already there: 0");
    import_env_expect(out, "left out: 1");
    char where[128];
    const char *d4 = strstr(mbox_text, "From help@desk.example Wed");
    snprintf(where, sizeof(where), "message 9 (byte offset %td): sent by the desk, no thread",
             d4 - mbox_text);
    import_env_expect(out, where);
    import_env_expect(out, "refused: 0");
    assert_null(strstr(out, "alice@"));

    /* The desk's messages are outbound, the customers' inbound, each kept with its sender. */
    harness_pg_text_is(
        fx.pg,
        "SELECT string_agg(external_ref || ':' || direction || ':' || "
        "coalesce(sender_address, '-'), ' ' ORDER BY received_at) FROM messages",
        "a1@cust.example:in:alice@cust.example "
        "auto1@desk.example:out:help@desk.example "
        "d1@desk.example:out:help@desk.example a2@cust.example:in:alice@cust.example "
        "d2@desk.example:out:agnes@desk.example c1@cust.example:in:carol@cust.example "
        "d3@desk.example:out:help@desk.example b1@cust.example:in:bob@cust.example");
    /* Alice's thread is one ticket, replies and all; Bob's (the desk began it) another. */
    long alice = ticket_of("a1@cust.example"), bob = ticket_of("d3@desk.example");
    assert_true(alice > 0 && bob > 0 && alice != bob);
    assert_int_equal(ticket_of("d1@desk.example"), alice);
    assert_int_equal(ticket_of("auto1@desk.example"), alice);
    assert_int_equal(ticket_of("a2@cust.example"), alice);
    assert_int_equal(ticket_of("d2@desk.example"), alice);
    /* Someone the desk's reply was copied to answers on the same ticket. */
    assert_int_equal(ticket_of("c1@cust.example"), alice);
    assert_int_equal(ticket_of("b1@cust.example"), bob);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE external_ref = "
                                            "'d4@desk.example'"),
                     0);
    /* No customer of the desk's addresses: Alice, Bob and Carol; Alice and Bob own theirs. */
    harness_pg_text_is(
        fx.pg,
        "SELECT string_agg(i.value || '=' || coalesce(c.name, '-'), ' ' ORDER BY "
        "i.value) FROM customer_identities i JOIN customers c ON c.id = "
        "i.customer_id",
        "alice@cust.example=Alice bob@cust.example=Bob Builder carol@cust.example=Carol");
    assert_int_equal(harness_pg_longf(fx.pg,
                                      "SELECT count(*) FROM tickets t JOIN customer_identities i "
                                      "ON i.customer_id = t.customer_id WHERE (t.id = %ld AND "
                                      "i.value = 'alice@cust.example') OR (t.id = %ld AND "
                                      "i.value = 'bob@cust.example')",
                                      alice, bob),
                     2);
    /* Nothing sent, nothing queued. */
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
    /*
     * First response: the desk's first human reply (the auto-reply before it
     * is none); the desk's own conversation is answered when it began.
     * History: resolved at the latest message, imported.
     */
    harness_pg_text_is(fx.pg,
                       "SELECT string_agg(to_char(first_responded_at AT TIME ZONE 'UTC', "
                       "'DD HH24:MI') || ' ' || to_char(handling_started_at AT TIME ZONE 'UTC', "
                       "'DD HH24:MI') || ' ' || to_char(resolved_at AT TIME ZONE 'UTC', "
                       "'DD HH24:MI') || ' ' || status || ' ' || (imported_at IS NOT NULL), ', ' "
                       "ORDER BY created_at) FROM tickets",
                       "04 10:30 04 10:30 04 12:00 resolved true, "
                       "05 09:00 05 09:00 05 10:00 resolved true");
    /* The desk's replies are on the timeline as replies, dated as the mail. */
    harness_pg_text_is(fx.pg,
                       "SELECT string_agg(e.kind || ':' || e.actor, ' ' ORDER BY e.created_at) "
                       "FROM ticket_events e WHERE e.ticket_id = (SELECT ticket_id FROM messages "
                       "WHERE external_ref = 'a1@cust.example')",
                       "created:system reply:Help Desk reply:Help Desk message:system "
                       "reply:Agnes message:system");
    /* The report of the month counts both answers (30 and 0 minutes) and the customers' mail. */
    harness_pg_text_is(fx.pg,
                       "SELECT r->'first_response'->>'answered' || ' ' || "
                       "(r->'first_response'->>'median_minutes') || ' ' || "
                       "(r->'volume'->'customer_messages_by_channel'->>'email') FROM "
                       "intake_report('{\"from\": \"2024-03-01\", \"to\": \"2024-04-01\", "
                       "\"timezone\": \"UTC\"}') r",
                       "2 15.0 4");
}

static void test_rerun_stores_nothing_twice(void **state)
{
    (void)state;
    char path[128], out[8192];
    long messages = harness_pg_long(fx.pg, "SELECT count(*) FROM messages");
    long events = harness_pg_long(fx.pg, "SELECT count(*) FROM ticket_events");
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "--own-address help@desk.example %s",
                                    mbox_path(path, sizeof(path))),
                     0);
    import_env_expect(out, "imported: 0 (0 new tickets, 0 sent by the desk)");
    import_env_expect(out, "already there: 8");
    import_env_expect(out, "left out: 1");
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages"), messages);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM ticket_events"), events);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM customers"), 3);
}

/*
 * A Maildir's Sent folder is the desk's whatever its From says; a copy of
 * mail the gateway sent (kept on its ticket with its Message-ID) is there
 * already; drafts stay out.
 */
static void test_maildir_sent_folder(void **state)
{
    (void)state;
    char path[256], out[8192];
    const char *folders[] = {"",          "cur",     "new",         ".Sent",      ".Sent/cur",
                             ".Sent/new", ".Drafts", ".Drafts/cur", ".Drafts/new"};
    for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
        import_env_maildir_file(&fx, folders[i], NULL, NULL);
    long bob = ticket_of("b1@cust.example");
    harness_pg_exec(fx.pg, "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, "
                           "external_ref, body) SELECT ticket_id, 'out', 'email', 'out:reply:x', "
                           "'sent-by-gateway@desk.example', 'Sent by the console.' FROM messages "
                           "WHERE external_ref = 'b1@cust.example'");
    import_env_maildir_file(
        &fx, ".Sent/cur", "1709650000.M1P1.host:2,S",
        "From: Old Alias <old-alias@desk.example>\nTo: bob@cust.example\n"
        "Subject: Re: your order 4711 is delayed\nDate: Tue, 05 Mar 2024 11:00:00 +0000\n"
        "Message-ID: <d5@desk.example>\nIn-Reply-To: <b1@cust.example>\n\nThanks, Bob.\n");
    import_env_maildir_file(
        &fx, ".Sent/cur", "1709650100.M2P1.host:2,S",
        "From: help@desk.example\nTo: bob@cust.example\nSubject: Re: order\n"
        "Date: Tue, 05 Mar 2024 11:05:00 +0000\nMessage-ID: <sent-by-gateway@desk.example>\n"
        "\nSent by the console.\n");
    import_env_maildir_file(&fx, ".Drafts/cur", "1709650200.M3P1.host:2,D",
                            "From: help@desk.example\nTo: bob@cust.example\nSubject: draft\n"
                            "Message-ID: <draft1@desk.example>\n\nNot sent.\n");
    import_env_maildir_file(
        &fx, "cur", "1709660000.M4P1.host:2,S",
        "From: Bob Builder <bob@cust.example>\nTo: help@desk.example\nSubject: Re: order\n"
        "Date: Tue, 05 Mar 2024 12:00:00 +0000\nMessage-ID: <b2@cust.example>\n"
        "In-Reply-To: <d5@desk.example>\n\nGood.\n");
    snprintf(path, sizeof(path), "%s/maildir", fx.dir);
    /* No --own-address: the Sent folder says whose its mail is. */
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "%s", path), 0);
    import_env_expect(out, "(Maildir, 3 messages)");
    import_env_expect(out, "imported: 2 (0 new tickets, 1 sent by the desk)");
    import_env_expect(out, "already there: 1");
    import_env_expect(out, "folders left out: .Drafts (");
    /* The agents table gave an address; nobody said none is known. */
    assert_null(strstr(out, "none known"));
    assert_null(strstr(out, ".Sent"));
    harness_pg_text_is(fx.pg,
                       "SELECT string_agg(external_ref || ':' || direction, ' ' ORDER BY "
                       "received_at) FROM messages WHERE external_ref IN ('d5@desk.example', "
                       "'b2@cust.example')",
                       "d5@desk.example:out b2@cust.example:in");
    assert_int_equal(ticket_of("d5@desk.example"), bob);
    assert_int_equal(ticket_of("b2@cust.example"), bob);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM messages WHERE external_ref = "
                                            "'sent-by-gateway@desk.example'"),
                     1);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM customers"), 3);
    assert_int_equal(harness_pg_long(fx.pg, "SELECT count(*) FROM outbox"), 0);
}

static void test_own_address_must_be_one(void **state)
{
    (void)state;
    char path[128], out[4096];
    assert_int_equal(import_env_run(&fx, out, sizeof(out), "--own-address not-an-address %s",
                                    mbox_path(path, sizeof(path))),
                     64);
    import_env_expect(out, "--own-address takes an address");
    assert_int_equal(
        import_env_run(&fx, out, sizeof(out), "%s --own-address", mbox_path(path, sizeof(path))),
        64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desk_mailbox),
        cmocka_unit_test(test_rerun_stores_nothing_twice),
        cmocka_unit_test(test_maildir_sent_folder),
        cmocka_unit_test(test_own_address_must_be_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
