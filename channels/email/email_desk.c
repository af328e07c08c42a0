/*
 * The desk's own mail in an imported mailbox. A help desk's archive (a
 * support@ Gmail account's Takeout, an Exchange export, a dovecot mailbox
 * with its Sent folder) holds the replies the desk sent beside its
 * customers' mail; imported as a customer's, each made the desk a customer
 * of its own. A message is the desk's when its sender is one of the desk's
 * addresses, gathered here from what the gateway knows (the address it
 * sends from, its mailboxes' and SMTP account's users, agents' addresses)
 * and what the operator adds (import-mail --own-address, which also takes
 * "@domain" for a company's every address), or when it lies in a Sent
 * folder. Addresses are a hash set and domains a short list: a lookup per
 * message, a few per message in the import's first pass.
 */
#include <libpq-fe.h>
#include <string.h>

#include "email_desk.h"
#include "gw_config.h"
#include "gw_db.h"

struct gw_email_desk {
    GHashTable *addresses; /* lower-cased, owned */
    GPtrArray *domains;    /* "@example.com", lower-cased, owned */
};

struct gw_email_desk *gw_email_desk_create(void)
{
    struct gw_email_desk *d = g_new0(struct gw_email_desk, 1);
    d->addresses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->domains = g_ptr_array_new_with_free_func(g_free);
    return d;
}

void gw_email_desk_destroy(struct gw_email_desk *d)
{
    if (!d)
        return;
    g_hash_table_destroy(d->addresses);
    g_ptr_array_free(d->domains, TRUE);
    g_free(d);
}

bool gw_email_desk_add(struct gw_email_desk *d, const char *address)
{
    if (!address)
        return false;
    if (address[0] == '@') {
        /* A domain: letters, digits, dots and hyphens, with a dot. */
        size_t n = strlen(address);
        if (n < 4 || n > 254 ||
            strspn(address + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                                "UVWXYZ0123456789.-") != n - 1 ||
            !strchr(address + 1, '.'))
            return false;
        g_ptr_array_add(d->domains, g_ascii_strdown(address, -1));
        return true;
    }
    struct gw_arena *arena = gw_arena_create(512);
    const char *norm = arena ? gw_email_address_of(address, arena) : NULL;
    if (norm)
        g_hash_table_add(d->addresses, g_strdup(norm));
    gw_arena_destroy(arena);
    return norm != NULL;
}

size_t gw_email_desk_count(const struct gw_email_desk *d)
{
    return g_hash_table_size(d->addresses) + d->domains->len;
}

bool gw_email_desk_has(const struct gw_email_desk *d, const char *addr)
{
    if (!d || !addr)
        return false;
    if (g_hash_table_contains(d->addresses, addr))
        return true;
    const char *at = strrchr(addr, '@');
    for (guint i = 0; at && i < d->domains->len; i++)
        if (!strcmp(at, g_ptr_array_index(d->domains, i)))
            return true;
    return false;
}

/* A configured user name that is an address (a login may be a plain name). */
static void add_if_address(struct gw_email_desk *d, const char *user)
{
    if (user && strchr(user, '@'))
        gw_email_desk_add(d, user);
}

static void add_agents(struct gw_email_desk *d, const struct gw_config *cfg)
{
    PGconn *conn = NULL;
    if (!cfg->database_url || gw_db_connect(cfg->database_url, "import-mail", &conn) != GW_OK)
        return;
    PGresult *res = PQexec(conn, "SELECT email FROM agents WHERE email IS NOT NULL");
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        for (int r = 0; r < PQntuples(res); r++)
            gw_email_desk_add(d, PQgetvalue(res, r, 0));
    PQclear(res);
    PQfinish(conn);
}

void gw_email_desk_gather(struct gw_email_desk *d, const struct gw_config *cfg)
{
    const json_t *section = gw_config_channel(cfg, GW_EMAIL_CHANNEL);
    add_if_address(d, json_string_value(json_object_get(section, "from_address")));
    size_t i;
    const json_t *box;
    json_array_foreach(json_object_get(json_object_get(section, "imap"), "mailboxes"), i, box)
        add_if_address(d, json_string_value(json_object_get(box, "user")));
    add_if_address(d, cfg->smtp_user);
    add_agents(d, cfg);
}

/* The mailboxes of a list, groups' members included, in order. */
static void mailboxes(InternetAddressList *list, GPtrArray *out)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            g_ptr_array_add(out, ia);
        else if (INTERNET_ADDRESS_IS_GROUP(ia))
            mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out);
    }
}

/* The To and Cc mailboxes that are not the desk's, as addresses (arena); n of them. */
static size_t others(const struct gw_email_desk *d, GMimeMessage *m, struct gw_arena *arena,
                     const char **addr, const char **name, size_t cap)
{
    GPtrArray *all = g_ptr_array_new();
    mailboxes(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO), all);
    mailboxes(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_CC), all);
    size_t n = 0;
    for (guint i = 0; i < all->len && n < cap; i++) {
        InternetAddress *ia = g_ptr_array_index(all, i);
        const char *raw = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        const char *a = raw && *raw ? gw_email_address_of(raw, arena) : NULL;
        if (!a || gw_email_desk_has(d, a))
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(addr[k], a);
        if (seen)
            continue;
        const char *nm = internet_address_get_name(ia);
        name[n] = nm && *nm ? gw_email_to_utf8(nm, -1, arena) : NULL;
        addr[n++] = a;
    }
    g_ptr_array_free(all, TRUE);
    return n;
}

char *gw_email_desk_recipient(const struct gw_email_desk *d, GMimeMessage *m)
{
    struct gw_arena *arena = gw_arena_create(1024);
    const char *addr[1], *name[1];
    char *out = arena && others(d, m, arena, addr, name, 1) ? g_strdup(addr[0]) : NULL;
    gw_arena_destroy(arena);
    return out;
}

/* As the parser's Cc list (email_parse.c). */
#define MAX_RECIPIENTS 51

void gw_email_desk_fill(const struct gw_email_desk *d, GMimeMessage *m, struct gw_arena *arena,
                        struct gw_contact *c)
{
    c->outbound = true;
    const char **addr = gw_arena_zalloc(arena, MAX_RECIPIENTS * sizeof(*addr));
    const char **name = gw_arena_zalloc(arena, MAX_RECIPIENTS * sizeof(*name));
    size_t n = addr && name ? others(d, m, arena, addr, name, MAX_RECIPIENTS) : 0;
    c->recipient.email = n ? addr[0] : NULL;
    c->recipient.name = n ? name[0] : NULL;
    /*
     * Everyone it went to may answer on the ticket, as a customer's Cc may:
     * the desk may have answered someone beside the ticket's customer.
     */
    c->cc = addr;
    c->n_cc = n;
}
