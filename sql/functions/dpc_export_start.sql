-- dpc_export_start: record a DPC export, in one statement: the job, with
-- what its workers export it with (dialect, types, _since, _until, the
-- _typeFilter of dpc_type_filter.h, resources per file, gzip twins, file
-- lifetime: the kick-off's request and server configuration, so every
-- worker, on any host, agrees with httpd), and its beneficiaries in batches
-- of p_batch.  The kick-off scans no claims.  The beneficiaries:
--   p_roster given      the roster's active members (Group/{id}/$export);
--   p_roster NULL       the active members of every roster of the
--                       organization, each beneficiary once (p_population
--                       'patient': Patient/$export, 'system': $export).
-- Opted-out members go into the batches: the workers report them in the
-- error file.  p_patients (the kick-off's `patient`: 'Patient/<id>' or
-- 'mbi|<MBI>', as the request named them) keeps only those patients; one
-- that is not among the beneficiaries is refused, or under p_lenient
-- skipped and noted (the notes go to the job's error file).
-- Refusals come back as {"error": ...}:
--   {"error": "not_found"}               no such roster of this organization
--   {"error": "running", "job": id}      an export of the roster (or an
--       organization-wide export of the organization in this dialect) runs
--   {"error": "patients", "patients": [ref, ...]}  not among the beneficiaries
-- A Group DELETE waits until the job is recorded (the roster is locked FOR
-- KEY SHARE by the check) and then leaves it without its roster; one that
-- got here first makes it not found.
CREATE OR REPLACE FUNCTION dpc_export_start(p_org uuid, p_roster uuid, p_population text,
                                            p_dialect text, p_version smallint, p_url text,
                                            p_types text[], p_since timestamptz,
                                            p_until timestamptz, p_filter jsonb,
                                            p_patients text[], p_lenient boolean,
                                            p_notes text[], p_batch int, p_per_file int,
                                            p_gzip boolean, p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_mbis text[];
    v_ids text[];
    v_missing text[];
    v_notes text[] := p_notes;
BEGIN
    IF p_roster IS NOT NULL THEN
        PERFORM 1 FROM roster WHERE id = p_roster AND org_id = p_org FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('error', 'not_found');
        END IF;
        SELECT id INTO v_job FROM export_job WHERE roster_id = p_roster AND status = 'running';
    ELSE
        -- one organization-wide kick-off at a time, so the check cannot race
        PERFORM pg_advisory_xact_lock(hashtext('dpc_export_org'), hashtext(p_org::text));
        SELECT id INTO v_job FROM export_job
         WHERE org_id = p_org AND dialect = p_dialect AND status = 'running'
           AND population IN ('patient', 'system')
         ORDER BY created_at LIMIT 1;
    END IF;
    IF v_job IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'running', 'job', v_job);
    END IF;
    SELECT coalesce(array_agg(m.mbi ORDER BY m.mbi), '{}'), coalesce(array_agg(m.id::text ORDER BY m.mbi), '{}')
      INTO v_mbis, v_ids
      FROM (SELECT DISTINCT p.mbi, p.id
              FROM attribution a JOIN patient p ON p.id = a.patient_id
              JOIN roster r ON r.id = a.roster_id
             WHERE (a.roster_id = p_roster OR (p_roster IS NULL AND r.org_id = p_org))
               AND a.removed_at IS NULL AND a.period_end > now()) m;
    IF cardinality(p_patients) > 0 THEN
        SELECT array_agg(u.ref ORDER BY u.ord) INTO v_missing
          FROM unnest(p_patients) WITH ORDINALITY AS u(ref, ord)
         WHERE NOT (CASE WHEN u.ref LIKE 'Patient/%' THEN substr(u.ref, 9) = ANY (v_ids)
                         ELSE substr(u.ref, 5) = ANY (v_mbis) END);
        IF v_missing IS NOT NULL AND NOT p_lenient THEN
            RETURN jsonb_build_object('error', 'patients', 'patients', to_jsonb(v_missing));
        END IF;
        v_notes := v_notes || coalesce((SELECT array_agg('patient=' || CASE WHEN m LIKE 'mbi|%'
                                                 THEN 'MBI ' || substr(m, 5) ELSE m END
                                                 || ' (not among the beneficiaries of this export)')
                                          FROM unnest(v_missing) AS m), '{}');
        SELECT coalesce(array_agg(b.mbi ORDER BY b.mbi), '{}') INTO v_mbis
          FROM unnest(v_mbis, v_ids) AS b(mbi, id)
         WHERE 'Patient/' || b.id = ANY (p_patients) OR 'mbi|' || b.mbi = ANY (p_patients);
    END IF;
    INSERT INTO export_job (org_id, roster_id, population, dialect, fhir_version, request_url,
                            types, since, until, type_filter, notes, resources_per_file, gzip,
                            file_lifetime)
    VALUES (p_org, p_roster, p_population, p_dialect, p_version, p_url, p_types, p_since,
            p_until, p_filter, v_notes, p_per_file, p_gzip, p_lifetime)
    RETURNING id INTO v_job;
    PERFORM dpc_export_batches(v_job, p_batch, v_mbis, cardinality(v_notes) > 0);
    RETURN jsonb_build_object('job', v_job);
EXCEPTION WHEN unique_violation THEN
    -- another kick-off for this roster won the race
    RETURN jsonb_build_object('error', 'running',
                              'job', (SELECT id FROM export_job WHERE roster_id = p_roster
                                       AND status = 'running' LIMIT 1));
END $$;
