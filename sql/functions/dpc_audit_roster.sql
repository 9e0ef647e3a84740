-- dpc_audit_roster: a roster created or deleted.
CREATE OR REPLACE FUNCTION dpc_audit_roster() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'INSERT' THEN r := NEW; ELSE r := OLD; END IF;
    PERFORM dpc_audit(CASE TG_OP WHEN 'INSERT' THEN 'roster.created' ELSE 'roster.deleted' END,
                      r.org_id, NULL,
                      jsonb_build_object('roster', r.id, 'practitioner', r.practitioner_id));
    RETURN NULL;
END $$;
