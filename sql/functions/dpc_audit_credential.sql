-- Credentials: created, rotated (a BCDA credential's new secret) and
-- deleted, any way at all (API, dpcctl, an organization's deletion).
-- TG_ARGV[0] names the kind.
CREATE OR REPLACE FUNCTION dpc_audit_credential() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM dpc_audit(CASE TG_OP WHEN 'INSERT' THEN 'credential.created'
                                 WHEN 'UPDATE' THEN 'credential.rotated'
                                 ELSE 'credential.deleted' END,
                      r.org_id, NULL,
                      jsonb_build_object('kind', TG_ARGV[0], 'id', r.id, 'label', r.label));
    RETURN NULL;
END $$;
