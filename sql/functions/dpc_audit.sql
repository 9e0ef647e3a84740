-- dpc_audit: one row of the audit trail (audit_event), naming the actor
-- and address the statement set (dpc_audit_actor, dpc.address).
CREATE OR REPLACE FUNCTION dpc_audit(p_action text, p_org uuid, p_job uuid, p_detail jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_event (action, org_id, actor, address, job_id, detail)
    VALUES (p_action, p_org, dpc_audit_actor(),
            nullif(current_setting('dpc.address', true), ''), p_job,
            coalesce(p_detail, '{}'));
END $$;
