-- 0015: two first contacts from one new phone number at the same moment (two
-- workers or gateways; an API contact and a missed call) made two customers.
-- intake_register attaches an identity nobody owns with ON CONFLICT DO
-- NOTHING; the loser of that race keeps its new customer record unless the
-- identity was an e-mail address (0001's adoption rule), so a number could
-- end up with a second customer holding its later tickets. A contact with a
-- number nobody owns now first takes the caller's lock of 0011 (which call
-- events already take before their lookup), so the second contact waits for
-- the first to commit and then finds the number's customer. Numbers already
-- owned, the usual case, take no lock. The gateway's registration statements
-- call this; intake_register keeps its meaning for everything else.

CREATE FUNCTION intake_register_contact(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    IF c->>'phone' IS NOT NULL AND intake_identity_owner('phone', c->>'phone') IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('caller:' || (c->>'phone'), 7));
    END IF;
    RETURN intake_register(c, raw);
END
$fn$;

CREATE OR REPLACE FUNCTION intake_register_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_register_contact(docs->i, NULL);
    END LOOP;
END
$fn$;
