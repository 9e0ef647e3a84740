-- dpc_roster_write: every roster write in one statement, so it is one
-- round trip: check everything first, then write.  Expected refusals come
-- back as {"error": ..., ...} (nothing written); success as {"roster": id,
-- "registered": N}.
--   p_action       create | add | replace | remove
--   p_per_request  for create: a DPC v2 Group (one per export request, each
--                  member naming its own practitioner; practitioners not yet
--                  registered are registered) rather than a DPC v1 roster
--                  (one per practitioner, who must be registered first).
--                  Other actions follow the roster as it was created.
--   p_npi          the Group's attributed-to NPI; NULL when it gives none
--   p_members      [{"ref": patient uuid | "mbi": MBI, "npi": NPI}, ...]
--   p_on_id / p_on_npi  the attestation's onBehalfOf (a Practitioner id or
--                  NPI), NULL when not given: it must name the roster's
--                  practitioner, or on a v2 Group one of its members'
-- Once every check has passed, the write locks what it depends on
-- (dpc_roster_lock; migration 009 says why): what a DELETE that got there
-- first removed is a refusal, {"error": "gone"} or {"error": "deleted",
-- "deleted": [...]}; a deadlock or serialization failure with another
-- writer is {"error": "conflict"}, nothing written.
CREATE OR REPLACE FUNCTION dpc_roster_write(p_org uuid, p_roster uuid, p_action text,
                                            p_per_request boolean, p_npi text, p_name text,
                                            p_members jsonb, p_on_id uuid, p_on_npi text,
                                            p_recorded timestamptz, p_provenance text,
                                            p_client_token uuid, p_days int, p_cap int)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_per_request boolean := p_per_request;
    v_prac uuid;            -- a v1 roster's practitioner
    v_roster uuid;
    v_npis text[];          -- every NPI the body names
    v_missing jsonb;
    v_pracs uuid[] := '{}';
    v_unknown jsonb;
    v_known uuid[];
    v_new_mbis text[];
    v_total int;
    v_registered int := 0;
    v_refused jsonb;
    v_now timestamptz := now();
BEGIN
    -- one roster writer per organization at a time: writes of different
    -- rosters may register the same new MBI or NPI
    PERFORM pg_advisory_xact_lock(hashtext('dpc_roster'), hashtext(p_org::text));
    -- a roster that is not the caller's is not found, whatever else is wrong
    IF p_action <> 'create' THEN
        SELECT id, practitioner_id, per_request INTO v_roster, v_prac, v_per_request
          FROM roster WHERE org_id = p_org AND id = p_roster;
        IF v_roster IS NULL THEN
            RETURN jsonb_build_object('error', 'not_found');
        END IF;
    END IF;
    SELECT coalesce(array_agg(DISTINCT n), '{}') INTO v_npis
      FROM (SELECT m->>'npi' AS n FROM jsonb_array_elements(p_members) m
            UNION ALL SELECT p_npi) k
     WHERE n IS NOT NULL;

    IF NOT v_per_request THEN
        -- a v1 roster: one practitioner, registered first
        SELECT jsonb_agg(n) INTO v_missing FROM unnest(v_npis) n
         WHERE NOT EXISTS (SELECT 1 FROM practitioner WHERE org_id = p_org AND npi = n);
        IF v_missing IS NOT NULL OR (p_action = 'create' AND cardinality(v_npis) = 0) THEN
            RETURN jsonb_build_object('error', 'no_practitioner', 'npis',
                                      coalesce(v_missing, '[]'));
        END IF;
        IF p_action = 'create' THEN
            SELECT id INTO v_prac FROM practitioner WHERE org_id = p_org AND npi = v_npis[1];
            IF v_prac IS NULL THEN      -- deleted since the statement above
                RETURN jsonb_build_object('error', 'no_practitioner', 'npis', to_jsonb(v_npis));
            END IF;
        END IF;
        IF cardinality(v_npis) > 1 OR EXISTS (SELECT 1 FROM unnest(v_npis) n
                 WHERE n <> (SELECT npi FROM practitioner WHERE id = v_prac)) THEN
            RETURN jsonb_build_object('error', 'npi_mismatch');
        END IF;
        IF p_action <> 'remove'
           AND ((p_on_id IS NOT NULL AND p_on_id <> v_prac)
                OR (p_on_npi IS NOT NULL
                    AND p_on_npi <> (SELECT npi FROM practitioner WHERE id = v_prac))) THEN
            RETURN jsonb_build_object('error', 'attestation_practitioner');
        END IF;
        IF p_action = 'create' AND EXISTS (SELECT 1 FROM roster WHERE org_id = p_org
                                              AND practitioner_id = v_prac AND NOT per_request) THEN
            RETURN jsonb_build_object('error', 'duplicate', 'roster',
                                      (SELECT id FROM roster WHERE org_id = p_org
                                          AND practitioner_id = v_prac AND NOT per_request));
        END IF;
        v_pracs := ARRAY[v_prac];
    ELSIF p_action <> 'remove' THEN
        -- a v2 Group: an onBehalfOf given must be one of its members' practitioners
        IF (p_on_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM practitioner WHERE org_id = p_org
                                                  AND id = p_on_id AND npi = ANY (v_npis)))
           OR (p_on_npi IS NOT NULL AND NOT p_on_npi = ANY (v_npis)) THEN
            RETURN jsonb_build_object('error', 'attestation_practitioner');
        END IF;
        SELECT coalesce(array_agg(id), '{}') INTO v_pracs FROM practitioner
         WHERE org_id = p_org AND npi = ANY (v_npis);
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
        v_refused := dpc_roster_lock(p_action, v_roster, v_pracs, v_known);
        IF v_refused IS NOT NULL THEN
            RETURN v_refused;
        END IF;
        UPDATE roster SET updated_at = v_now, version = version + 1 WHERE id = v_roster;
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
    v_refused := dpc_roster_lock(p_action, v_roster, v_pracs, v_known);
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;

    -- write: unknown NPIs (a v2 Group) and MBIs become practitioners and
    -- patients, then the roster.  One that another request registered
    -- meanwhile is taken as it is (the no-op update returns and locks its
    -- row; DO NOTHING would return nothing).
    IF v_per_request THEN
        INSERT INTO practitioner (org_id, npi, family, given, resource)
        SELECT p_org, n, '', '', json_build_object('resourceType', 'Practitioner', 'identifier',
               json_build_array(json_build_object('system', 'http://hl7.org/fhir/sid/us-npi',
                                                  'value', n)))::text
          FROM unnest(v_npis) n
        ON CONFLICT (org_id, npi) DO UPDATE SET npi = excluded.npi;
    END IF;
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
        INSERT INTO roster (org_id, practitioner_id, name, per_request)
        VALUES (p_org, CASE WHEN v_per_request THEN NULL ELSE v_prac END, p_name, v_per_request)
        RETURNING id INTO v_roster;
    ELSE
        UPDATE roster SET updated_at = v_now, name = coalesce(p_name, name),
                          version = version + 1
         WHERE id = v_roster;
    END IF;
    IF p_action = 'replace' THEN
        DELETE FROM attribution WHERE roster_id = v_roster AND NOT patient_id = ANY (v_known);
    END IF;
    -- attesting (again) starts the period afresh, for the practitioner the
    -- member names now (a v1 roster's: the roster's)
    INSERT INTO attribution (roster_id, patient_id, practitioner_id, period_start, period_end)
    SELECT DISTINCT ON (k.id) v_roster, k.id,
           CASE WHEN v_per_request THEN pr.id ELSE v_prac END,
           v_now, v_now + make_interval(days => p_days)
      FROM (SELECT e.ord, (e.m->>'ref')::uuid AS id, e.m->>'npi' AS npi
              FROM jsonb_array_elements(p_members) WITH ORDINALITY e(m, ord) WHERE e.m ? 'ref'
            UNION ALL
            SELECT e.ord, p.id, e.m->>'npi'
              FROM jsonb_array_elements(p_members) WITH ORDINALITY e(m, ord)
              JOIN patient p ON p.org_id = p_org AND p.mbi = e.m->>'mbi') k
      LEFT JOIN practitioner pr ON pr.org_id = p_org AND pr.npi = coalesce(k.npi, p_npi)
     ORDER BY k.id, k.ord
    ON CONFLICT (roster_id, patient_id) DO UPDATE
       SET period_start = excluded.period_start, period_end = excluded.period_end,
           practitioner_id = excluded.practitioner_id, removed_at = NULL;
    INSERT INTO attestation (org_id, roster_id, practitioner_id, client_token_id, action,
                             recorded, provenance)
    VALUES (p_org, v_roster, CASE WHEN v_per_request THEN NULL ELSE v_prac END,
            p_client_token, p_action, p_recorded, p_provenance);
    RETURN jsonb_build_object('roster', v_roster, 'registered', v_registered);
EXCEPTION WHEN deadlock_detected OR serialization_failure THEN
    -- PostgreSQL chose this write to give way to another: nothing of it stays
    RETURN jsonb_build_object('error', 'conflict');
END $$;
