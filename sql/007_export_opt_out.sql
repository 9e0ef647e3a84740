-- 007_export_opt_out: opted-out members go into the batches too.  The
-- workers never export their data (they check opt_out as they read) and
-- report each of them in the error file, so that every active member of the
-- roster is either exported or reported, whenever the opt-out was recorded.
CREATE OR REPLACE FUNCTION dpc_export_start(p_org uuid, p_roster uuid, p_version smallint,
                                            p_url text, p_types text[], p_since timestamptz,
                                            p_notes text[], p_batch int, p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_batches int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM roster WHERE id = p_roster AND org_id = p_org) THEN
        RETURN jsonb_build_object('error', 'not_found');
    END IF;
    SELECT id INTO v_job FROM export_job WHERE roster_id = p_roster AND status = 'running';
    IF v_job IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'running', 'job', v_job);
    END IF;
    INSERT INTO export_job (org_id, roster_id, fhir_version, request_url, types, since, notes)
    VALUES (p_org, p_roster, p_version, p_url, p_types, p_since, p_notes)
    RETURNING id INTO v_job;
    WITH m AS (
        SELECT p.mbi, row_number() OVER (ORDER BY p.mbi) - 1 AS i
          FROM attribution a JOIN patient p ON p.id = a.patient_id
         WHERE a.roster_id = p_roster AND a.removed_at IS NULL AND a.period_end > now()),
    b AS (
        INSERT INTO export_batch (job_id, seq, mbis)
        SELECT v_job, (i / p_batch)::int, array_agg(mbi ORDER BY mbi) FROM m
         GROUP BY i / p_batch
        RETURNING 1)
    SELECT count(*) INTO v_batches FROM b;
    IF v_batches = 0 AND cardinality(p_notes) > 0 THEN
        INSERT INTO export_batch (job_id, seq, mbis) VALUES (v_job, 0, '{}');
        v_batches := 1;
    END IF;
    IF v_batches = 0 THEN
        UPDATE export_job SET status = 'completed', completed_at = now(),
               expires_at = now() + p_lifetime WHERE id = v_job;
    ELSE
        UPDATE export_job SET batches_total = v_batches WHERE id = v_job;
        PERFORM pg_notify('dpc_jobs', v_job::text);
    END IF;
    RETURN jsonb_build_object('job', v_job);
EXCEPTION WHEN unique_violation THEN
    -- another kick-off for this roster won the race
    RETURN jsonb_build_object('error', 'running',
                              'job', (SELECT id FROM export_job WHERE roster_id = p_roster
                                       AND status = 'running' LIMIT 1));
END $$;
