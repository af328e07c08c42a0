-- 0055: tickets moved in from another help desk's mail archive
-- (`intake import-mail`). They are history, not work: stored resolved, with
-- the dates the mail was written, and marked here with when they were
-- imported, so that reports and lists can tell them from tickets this desk
-- handled (a report's handling times and SLA figures mean nothing for them).
-- Nullable without a default: adding it rewrites nothing.
ALTER TABLE tickets ADD COLUMN imported_at timestamptz;
