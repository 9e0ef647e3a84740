-- dpc_export_start: record an export of a roster, in one statement: the
-- job, with the settings its workers export it with (dialect, resources
-- per file, gzip twins, file lifetime: the kick-off's server configuration,
-- so every worker, on any host, agrees with httpd), and its active,
-- attributed, not opted-out members in batches of p_batch.  The kick-off
-- scans no claims.  Refusals come back as {"error": ...}:
--   {"error": "not_found"}             no such roster of this organization
--   {"error": "running", "job": id}    an export of the roster is running
-- A Group DELETE waits until the job is recorded (the roster is locked FOR
-- KEY SHARE by the check) and then leaves it without its roster; one that
-- got here first makes it not found.
CREATE OR REPLACE FUNCTION dpc_export_start(p_org uuid, p_roster uuid, p_dialect text,
                                            p_version smallint, p_url text, p_types text[],
                                            p_since timestamptz, p_notes text[],
                                            p_batch int, p_per_file int, p_gzip boolean,
                                            p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
BEGIN
    PERFORM 1 FROM roster WHERE id = p_roster AND org_id = p_org FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'not_found');
    END IF;
    SELECT id INTO v_job FROM export_job WHERE roster_id = p_roster AND status = 'running';
    IF v_job IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'running', 'job', v_job);
    END IF;
    INSERT INTO export_job (org_id, roster_id, dialect, fhir_version, request_url, types,
                            since, notes, resources_per_file, gzip, file_lifetime)
    VALUES (p_org, p_roster, p_dialect, p_version, p_url, p_types, p_since, p_notes,
            p_per_file, p_gzip, p_lifetime)
    RETURNING id INTO v_job;
    PERFORM dpc_export_batches(v_job, p_batch,
                               ARRAY(SELECT p.mbi FROM attribution a
                                       JOIN patient p ON p.id = a.patient_id
                                      WHERE a.roster_id = p_roster AND a.removed_at IS NULL
                                        AND a.period_end > now()),
                               cardinality(p_notes) > 0);
    RETURN jsonb_build_object('job', v_job);
EXCEPTION WHEN unique_violation THEN
    -- another kick-off for this roster won the race
    RETURN jsonb_build_object('error', 'running',
                              'job', (SELECT id FROM export_job WHERE roster_id = p_roster
                                       AND status = 'running' LIMIT 1));
END $$;
