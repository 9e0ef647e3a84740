-- 009_roster_locks: a roster write (and an export kick-off) locks what it
-- depends on, so that a DELETE racing it is decided here, not by a foreign
-- key.
--
-- dpc_roster_write checked that the roster, its practitioner and the named
-- patients existed, then wrote.  A DELETE that committed in between made
-- the write fail on a foreign key (23503), and a $remove (members first,
-- then the roster) could deadlock with a Group DELETE (roster, then its
-- members): the client got 500, though PostgreSQL kept the data whole.
--
-- Now, once every check has passed, the write locks what it depends on, in
-- the order a DELETE's cascade reaches them (practitioner, roster,
-- patients, then members), so neither can wait for the other:
--   practitioner and patients FOR KEY SHARE: their DELETE waits until this
--     write commits, then cascades over what it wrote;
--   the roster FOR NO KEY UPDATE: a Group DELETE waits likewise.
-- What a DELETE that got there first removed is a refusal, nothing written:
--   {"error": "gone"}                   the roster was deleted (404)
--   {"error": "deleted", "deleted": ["Practitioner/{id}" | "Patient/{id}", ...]}
--                                       they were deleted during the write (409)
-- A deadlock or serialization failure with any other writer is
-- {"error": "conflict"} (409, worth retrying), nothing written.

-- Lock what a write of p_action depends on; NULL when all of it is still
-- there, else the refusal.  Caller's transaction; patients in uuid order.
CREATE FUNCTION dpc_roster_lock(p_action text, p_roster uuid, p_prac uuid, p_patients uuid[])
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_locked uuid[];
BEGIN
    IF p_action <> 'remove' THEN
        PERFORM 1 FROM practitioner WHERE id = p_prac FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('error', 'deleted',
                                      'deleted', jsonb_build_array('Practitioner/' || p_prac));
        END IF;
    END IF;
    IF p_roster IS NOT NULL THEN
        PERFORM 1 FROM roster WHERE id = p_roster FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('error', 'gone');
        END IF;
    END IF;
    IF p_action = 'remove' THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(id), '{}') INTO v_locked
      FROM (SELECT id FROM patient WHERE id = ANY (p_patients) ORDER BY id FOR KEY SHARE) l;
    IF cardinality(v_locked) < cardinality(p_patients) THEN
        RETURN jsonb_build_object('error', 'deleted', 'deleted',
                                  (SELECT jsonb_agg('Patient/' || k ORDER BY k)
                                     FROM unnest(p_patients) k WHERE NOT k = ANY (v_locked)));
    END IF;
    RETURN NULL;
END $$;

-- As in 003, with dpc_roster_lock between the checks and the writes, and
-- $remove's writes in the same order as the others (roster, then members).
CREATE OR REPLACE FUNCTION dpc_roster_write(p_org uuid, p_roster uuid, p_action text,
                                            p_npi text, p_name text, p_members jsonb,
                                            p_on_id uuid, p_on_npi text,
                                            p_recorded timestamptz, p_provenance text,
                                            p_client_token uuid, p_days int, p_cap int)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_prac uuid;
    v_roster uuid;
    v_roster_prac uuid;
    v_unknown jsonb;
    v_known uuid[];
    v_new_mbis text[];
    v_total int;
    v_registered int := 0;
    v_refused jsonb;
    v_now timestamptz := now();
BEGIN
    -- one roster writer per organization at a time: writes of different
    -- rosters may register the same new MBI
    PERFORM pg_advisory_xact_lock(hashtext('dpc_roster'), hashtext(p_org::text));
    -- a roster that is not the caller's is not found, whatever else is wrong
    IF p_action <> 'create' THEN
        SELECT id, practitioner_id INTO v_roster, v_roster_prac FROM roster
         WHERE org_id = p_org AND id = p_roster;
        IF v_roster IS NULL THEN
            RETURN jsonb_build_object('error', 'not_found');
        END IF;
    END IF;
    SELECT id INTO v_prac FROM practitioner WHERE org_id = p_org AND npi = p_npi;
    IF v_prac IS NULL THEN
        RETURN jsonb_build_object('error', 'no_practitioner');
    END IF;
    IF v_roster IS NOT NULL AND v_roster_prac <> v_prac THEN
        RETURN jsonb_build_object('error', 'npi_mismatch');
    END IF;
    IF p_action <> 'remove' AND ((p_on_id IS NOT NULL AND p_on_id <> v_prac)
                                 OR (p_on_npi IS NOT NULL AND p_on_npi <> p_npi)) THEN
        RETURN jsonb_build_object('error', 'attestation_practitioner');
    END IF;
    IF p_action = 'create' THEN
        SELECT id INTO v_roster FROM roster WHERE org_id = p_org AND practitioner_id = v_prac;
        IF v_roster IS NOT NULL THEN
            RETURN jsonb_build_object('error', 'duplicate', 'roster', v_roster);
        END IF;
    END IF;

    -- members: references must be the organization's patients
    SELECT jsonb_agg(m->>'ref') INTO v_unknown
      FROM jsonb_array_elements(p_members) m
     WHERE m ? 'ref' AND NOT EXISTS (SELECT 1 FROM patient p
                                      WHERE p.org_id = p_org AND p.id = (m->>'ref')::uuid);
    IF v_unknown IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'unknown_patients', 'patients', v_unknown);
    END IF;
    SELECT coalesce(array_agg(DISTINCT id), '{}') INTO v_known FROM (
        SELECT (m->>'ref')::uuid AS id FROM jsonb_array_elements(p_members) m WHERE m ? 'ref'
        UNION ALL
        SELECT p.id FROM jsonb_array_elements(p_members) m
          JOIN patient p ON p.org_id = p_org AND p.mbi = m->>'mbi') k;
    SELECT coalesce(array_agg(DISTINCT m->>'mbi'), '{}') INTO v_new_mbis
      FROM jsonb_array_elements(p_members) m
     WHERE m ? 'mbi' AND NOT EXISTS (SELECT 1 FROM patient p
                                      WHERE p.org_id = p_org AND p.mbi = m->>'mbi');
    IF p_action = 'remove' THEN
        IF cardinality(v_new_mbis) > 0 THEN
            RETURN jsonb_build_object('error', 'unknown_patients',
                                      'patients', to_jsonb(v_new_mbis));
        END IF;
        v_refused := dpc_roster_lock(p_action, v_roster, v_prac, v_known);
        IF v_refused IS NOT NULL THEN
            RETURN v_refused;
        END IF;
        UPDATE roster SET updated_at = v_now WHERE id = v_roster;
        UPDATE attribution SET removed_at = v_now
         WHERE roster_id = v_roster AND patient_id = ANY (v_known) AND removed_at IS NULL;
        RETURN jsonb_build_object('roster', v_roster, 'registered', 0);
    END IF;

    -- the cap counts the active members the roster would have
    v_total := cardinality(v_known) + cardinality(v_new_mbis);
    IF p_action = 'add' THEN
        v_total := v_total + (SELECT count(*) FROM attribution
                               WHERE roster_id = v_roster AND removed_at IS NULL
                                 AND period_end > v_now AND NOT patient_id = ANY (v_known));
    END IF;
    IF v_total > p_cap THEN
        RETURN jsonb_build_object('error', 'cap_exceeded', 'members', v_total, 'cap', p_cap);
    END IF;
    v_refused := dpc_roster_lock(p_action, v_roster, v_prac, v_known);
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;

    -- write: unknown MBIs become patients (DPC v2), then the roster.  One
    -- that another request registered meanwhile is taken as it is (the
    -- no-op update returns and locks its row; DO NOTHING would return
    -- nothing, and the member would silently be left out).
    IF cardinality(v_new_mbis) > 0 THEN
        WITH ins AS (
            INSERT INTO patient (org_id, mbi, resource)
            SELECT p_org, mbi, json_build_object('resourceType', 'Patient', 'identifier',
                   json_build_array(json_build_object('system',
                   'http://hl7.org/fhir/sid/us-mbi', 'value', mbi)))::text
              FROM unnest(v_new_mbis) mbi
            ON CONFLICT (org_id, mbi) DO UPDATE SET mbi = excluded.mbi
            RETURNING id, xmax = 0 AS inserted)
        SELECT v_known || coalesce(array_agg(id), '{}'), count(*) FILTER (WHERE inserted)
          INTO v_known, v_registered
          FROM ins;
    END IF;
    IF p_action = 'create' THEN
        INSERT INTO roster (org_id, practitioner_id, name) VALUES (p_org, v_prac, p_name)
        RETURNING id INTO v_roster;
    ELSE
        UPDATE roster SET updated_at = v_now, name = coalesce(p_name, name)
         WHERE id = v_roster;
    END IF;
    IF p_action = 'replace' THEN
        DELETE FROM attribution WHERE roster_id = v_roster AND NOT patient_id = ANY (v_known);
    END IF;
    -- attesting (again) starts the period afresh
    INSERT INTO attribution (roster_id, patient_id, period_start, period_end)
    SELECT v_roster, id, v_now, v_now + make_interval(days => p_days) FROM unnest(v_known) id
    ON CONFLICT (roster_id, patient_id) DO UPDATE
       SET period_start = excluded.period_start, period_end = excluded.period_end,
           removed_at = NULL;
    INSERT INTO attestation (org_id, roster_id, practitioner_id, client_token_id, action,
                             recorded, provenance)
    VALUES (p_org, v_roster, v_prac, p_client_token, p_action, p_recorded, p_provenance);
    RETURN jsonb_build_object('roster', v_roster, 'registered', v_registered);
EXCEPTION WHEN deadlock_detected OR serialization_failure THEN
    -- PostgreSQL chose this write to give way to another: nothing of it stays
    RETURN jsonb_build_object('error', 'conflict');
END $$;

-- The export kick-off had the same gap: it checked that the roster existed,
-- then recorded a job that references it.  As in 007, with the roster
-- locked FOR KEY SHARE by the check.
CREATE OR REPLACE FUNCTION dpc_export_start(p_org uuid, p_roster uuid, p_version smallint,
                                            p_url text, p_types text[], p_since timestamptz,
                                            p_notes text[], p_batch int, p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_batches int;
BEGIN
    -- a Group DELETE waits until the job is recorded (and then leaves it
    -- without its roster); one that got here first makes it not found
    PERFORM 1 FROM roster WHERE id = p_roster AND org_id = p_org FOR KEY SHARE;
    IF NOT FOUND THEN
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
