-- 0080: open work walked by status only (issue 26).
--
-- 0077 added walks of open work by status, alone and within a queue, beside
-- the walks of all of it (0023's tickets_open_by_due, 0024's
-- tickets_open_by_queue_due). Every new ticket, and every change of its
-- assignee or deadlines, wrote an entry into each: with 0076's and 0077's
-- three indexes a registration cost the database 1.035 ms of CPU against
-- 0.815 without them (bench/index-cost-run, 10 pairs on 2,130,000 tickets).
-- intake_desk_page now reads all of open work as the walks of its three
-- statuses merged, so the walks of all of it go.
DROP INDEX tickets_open_by_due;
DROP INDEX tickets_open_by_queue_due;
