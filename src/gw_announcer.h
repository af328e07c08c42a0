/*
 * Session notifications sent after the commit, from a thread with its own
 * connection. A transaction that NOTIFYs holds PostgreSQL's one notification
 * lock from the start of its commit to the end, WAL flush included, so every
 * notifying commit of the cluster waits for the one before it. The
 * registration workers therefore commit without notifying and post "session
 * S has events up to seq" here; this thread sends them in transactions of its
 * own that do not wait for the disk, gathered for a few milliseconds, many
 * sessions per notification, the highest number per session only (a
 * listener fetches everything after what its socket has, so one
 * announcement covers all before it).
 *
 * An announcement can be lost (this process dies between the commit and the
 * send, or the queue overflows while the database is away). The events are
 * committed: a socket learns of them at the session's next announcement, and
 * a customer who reconnects gets them on resume.
 */
#ifndef GW_ANNOUNCER_H
#define GW_ANNOUNCER_H

#include "gw_error.h"

/* The longest signal document or notification, in bytes. */
#define GW_SIGNAL_MAX 240

struct gw_announcer;

GW_MUST_USE enum gw_err gw_announcer_start(const char *database_url, const char *channel,
                                           struct gw_announcer **out);
/* Queues "session seq"; any thread. Never blocks on the database. */
void gw_announcer_post(struct gw_announcer *a, long long session, long long seq);
/*
 * Queues a signal: a JSON object for the database's intake_session_signals,
 * which finds the sessions it concerns and notifies them ("<session>
 * {json}"). Signals (someone is typing) are not stored and not numbered, so
 * one that cannot be sent is dropped, not held; so is one over GW_SIGNAL_MAX
 * bytes. Any thread; never blocks on the database.
 */
void gw_announcer_signal(struct gw_announcer *a, const char *json);
/* Sends what is queued (one try), then stops and frees. NULL is a no-op. */
void gw_announcer_stop(struct gw_announcer *a);

#endif
