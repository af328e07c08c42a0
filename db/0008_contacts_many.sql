-- 0008: a run of contacts of one kind in one statement. The gateway sends a
-- batch in one pipeline and one transaction; each statement in it still costs
-- the backend a bind, an executor start-up and a result message, about a tenth
-- of what a call event costs. These take a JSON array of the documents the
-- single-contact functions take and answer one row per document, in order,
-- applying them one after the other exactly as separate statements would (a
-- PL/pgSQL statement in a volatile function takes a fresh snapshot, as a
-- top-level one does). The raw source of an e-mail is not part of the
-- document, so contacts with one still go one statement each.

CREATE FUNCTION intake_register_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_register(docs->i, NULL);
    END LOOP;
END
$fn$;

CREATE FUNCTION intake_call_event_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_call_event(docs->i);
    END LOOP;
END
$fn$;

CREATE FUNCTION intake_session_message_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_session_message(docs->i, NULL);
    END LOOP;
END
$fn$;
