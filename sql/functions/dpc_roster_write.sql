-- dpc_roster_write: every roster write in one statement, so it is one
-- round trip: check everything first, then write.  Expected refusals come
-- back as {"error": ..., ...} (nothing written); success as {"roster": id,
-- "registered": N}.
--   p_action   create | add | replace | remove
--   p_npi      the Group's provider; NULL only for remove (the roster's)
--   p_members  [{"ref": patient uuid} | {"mbi": MBI}, ...]
--   p_on_id / p_on_npi  the attestation's onBehalfOf (a Practitioner id or NPI)
-- Once every check has passed, the write locks what it depends on
-- (dpc_roster_lock; migration 009 says why): what a DELETE that got there
-- first removed is a refusal, {"error": "gone"} or {"error": "deleted",
-- "deleted": [...]}; a deadlock or serialization failure with another
-- writer is {"error": "conflict"}, nothing written.
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
    -- a $remove may leave the provider out: the URL names the roster
    IF p_npi IS NULL AND p_action = 'remove' THEN
        v_prac := v_roster_prac;
    ELSE
        SELECT id INTO v_prac FROM practitioner WHERE org_id = p_org AND npi = p_npi;
    END IF;
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
        -- the period ends at the removal: the time the patient *was* active
        UPDATE attribution SET removed_at = v_now, period_end = least(period_end, v_now)
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
