-- dpc_bcda_export_start: record a population export of an ACO, in one
-- statement: the job (with its settings, as dpc_export_start writes them)
-- and the beneficiaries of the ACO's current load of p_population
-- ('all': the attribution, 'runout': the runout), in batches of p_batch,
-- exported with its types, _since, _until and _typeFilter (dpc_type_filter.h).
-- Opted-out beneficiaries go into the batches too: the workers report them
-- in the error file.  Refusals come back as {"error": ...}:
--   {"error": "no_attribution"}           the ACO has no load of that kind
--   {"error": "no_key"}                   p_encrypt, and the ACO has no
--       registered public key (aco_key)
--   {"error": "running", "number": N}     a running job of the ACO in the
--       same dialect overlaps this one: the same request, or they share a
--       type (a request without _type has every type of its dialect)
-- With p_encrypt the job's files are encrypted for the ACO's key as it is
-- now (export_job.encrypt_key), and it has no gzip twins (ciphertext does
-- not compress).
-- Success: {"job": uuid, "number": N}.
CREATE OR REPLACE FUNCTION dpc_bcda_export_start(p_org uuid, p_population text,
                                                 p_dialect text, p_version smallint,
                                                 p_url text, p_types text[],
                                                 p_since timestamptz,
                                                 p_until timestamptz, p_filter jsonb,
                                                 p_batch int, p_per_file int,
                                                 p_gzip boolean, p_lifetime interval,
                                                 p_encrypt boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_load bigint;
    v_job uuid;
    v_number bigint;
    v_key text;
BEGIN
    -- one kick-off per ACO at a time, so the overlap check cannot race
    PERFORM pg_advisory_xact_lock(hashtext('dpc_bcda_export'), hashtext(p_org::text));
    SELECT id INTO v_load FROM aco_attribution
     WHERE org_id = p_org AND kind = CASE p_population WHEN 'runout' THEN 'runout'
                                                       ELSE 'attribution' END;
    IF v_load IS NULL THEN
        RETURN jsonb_build_object('error', 'no_attribution');
    END IF;
    IF p_encrypt THEN
        SELECT pem INTO v_key FROM aco_key WHERE org_id = p_org;
        IF v_key IS NULL THEN
            RETURN jsonb_build_object('error', 'no_key');
        END IF;
    END IF;
    SELECT number INTO v_number FROM export_job
     WHERE org_id = p_org AND dialect = p_dialect AND status = 'running'
       AND population IS NOT NULL
       AND (request_url = p_url OR types && p_types)
     ORDER BY created_at LIMIT 1;
    IF v_number IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'running', 'number', v_number);
    END IF;
    INSERT INTO export_job (org_id, dialect, fhir_version, request_url, types, since,
                            until, type_filter, notes, resources_per_file, gzip,
                            file_lifetime, population, encrypt_key)
    VALUES (p_org, p_dialect, p_version, p_url, p_types, p_since, p_until, p_filter, '{}',
            p_per_file, p_gzip AND v_key IS NULL, p_lifetime, p_population, v_key)
    RETURNING id, number INTO v_job, v_number;
    PERFORM dpc_export_batches(v_job, p_batch,
                               ARRAY(SELECT mbi FROM aco_beneficiary
                                      WHERE attribution_id = v_load));
    RETURN jsonb_build_object('job', v_job, 'number', v_number);
END $$;
