-- dpc_ab2d_export_start: record an AB2D export of a contract, in one
-- statement: the job (with its settings, as dpc_export_start writes them)
-- and the contract's enrollees of the months it may be given (from
-- 2020-01 and from its attestation's month on), in batches of p_batch
-- (dpc_export_batches), with its _since and _until.  p_credential: the
-- caller's credential, whose one contract it is; p_contract: the contract the request names (Group/{n}),
-- or NULL (Patient/$export: the credential's).  Refusals come back as
-- {"error": ...}:
--   {"error": "not_yours"}                 p_contract is not the credential's
--   {"error": "running", "jobs": [uuid]}   the contract already runs its
--       max_parallel_jobs jobs (those listed)
-- Success: {"job": uuid}.
CREATE OR REPLACE FUNCTION dpc_ab2d_export_start(p_credential uuid, p_contract text,
                                                 p_dialect text, p_version smallint,
                                                 p_url text, p_since timestamptz,
                                                 p_until timestamptz,
                                                 p_batch int, p_per_file int,
                                                 p_gzip boolean, p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ab2d_contract%ROWTYPE;
    v_job uuid;
    v_running uuid[];
BEGIN
    SELECT k.* INTO c FROM bcda_credential cr JOIN ab2d_contract k ON k.number = cr.contract
     WHERE cr.id = p_credential;
    IF c.number IS NULL OR (p_contract IS NOT NULL AND p_contract <> c.number) THEN
        RETURN jsonb_build_object('error', 'not_yours');
    END IF;
    -- one kick-off per contract at a time, so the count cannot race
    PERFORM pg_advisory_xact_lock(hashtext('dpc_ab2d_export'), hashtext(c.number));
    v_running := ARRAY(SELECT id FROM export_job WHERE contract = c.number
                          AND status = 'running' ORDER BY created_at);
    IF cardinality(v_running) >= c.max_parallel_jobs THEN
        RETURN jsonb_build_object('error', 'running', 'jobs', to_jsonb(v_running));
    END IF;
    INSERT INTO export_job (org_id, dialect, fhir_version, request_url, types, since,
                            until, notes, resources_per_file, gzip, file_lifetime, contract)
    VALUES (c.org_id, p_dialect, p_version, p_url, '{ExplanationOfBenefit}', p_since,
            p_until, '{}', p_per_file, p_gzip, p_lifetime, c.number)
    RETURNING id INTO v_job;
    PERFORM dpc_export_batches(v_job, p_batch,
                               ARRAY(SELECT mbi FROM ab2d_enrollment
                                      WHERE contract = c.number
                                        AND month >= greatest(date '2020-01-01',
                                                 date_trunc('month', c.attested_at)::date)));
    RETURN jsonb_build_object('job', v_job);
END $$;
