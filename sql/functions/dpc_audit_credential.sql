-- Credentials: created, rotated (a BCDA credential's new secret) and
-- deleted, any way at all (API, dpcctl, an organization's deletion).
-- TG_ARGV[0] names the kind; TG_ARGV[1], when given, the action (an
-- AB2D credential disabled or given a new allow-list: credential.changed).
CREATE OR REPLACE FUNCTION dpc_audit_credential() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM dpc_audit(CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1]
                           WHEN TG_OP = 'INSERT' THEN 'credential.created'
                           WHEN TG_OP = 'UPDATE' THEN 'credential.rotated'
                           ELSE 'credential.deleted' END,
                      r.org_id, NULL,
                      jsonb_build_object('kind', TG_ARGV[0], 'id', r.id, 'label', r.label));
    RETURN NULL;
END $$;
