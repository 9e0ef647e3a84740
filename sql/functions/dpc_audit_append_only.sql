-- dpc_audit_append_only: audit_event's guard.  Refuses UPDATE, TRUNCATE and
-- DELETE, except the DELETE of the retention (dpc_audit_expire), which sets
-- dpc.audit_expire for its own transaction.
CREATE OR REPLACE FUNCTION dpc_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dpc.audit_expire', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
