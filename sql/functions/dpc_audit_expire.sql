-- The retention (DPCAuditRetention): remove what is older than p_keep.
-- The only DELETE the trigger lets through.
CREATE OR REPLACE FUNCTION dpc_audit_expire(p_keep interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('dpc.audit_expire', 'on', true);
    DELETE FROM audit_event WHERE at < now() - p_keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('dpc.audit_expire', 'off', true);
    RETURN n;
END $$;
