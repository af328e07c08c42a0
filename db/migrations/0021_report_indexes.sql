-- 0021: what a period's report reads, by index. A report selects the tickets
-- created in a period, the customers' messages received in it, the surveys
-- answered or sent in it and the follow-ups due in it; without these it
-- scanned each table whole (2,000,000 tickets, 6,000,000 messages). Tickets,
-- messages and surveys are written in time order, so a BRIN index on their
-- creation time finds a month's pages for a few kilobytes of index and almost
-- nothing added to a registration's cost; answers and due times are not in
-- the tables' order, and those tables are small beside the tickets: btree.
CREATE INDEX tickets_created ON tickets USING brin (created_at);
CREATE INDEX messages_created ON messages USING brin (created_at);
CREATE INDEX surveys_created ON surveys USING brin (created_at);
CREATE INDEX surveys_answered ON surveys (answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX followups_due ON followups (due_at);
