-- dpc_roster_lock: lock what a write of p_action depends on; NULL when all
-- of it is still there, else the refusal (dpc_roster_write.sql says what
-- each means).  Caller's transaction; practitioners, then the roster, then
-- patients, each in uuid order: the order a DELETE's cascade reaches them.
CREATE OR REPLACE FUNCTION dpc_roster_lock(p_action text, p_roster uuid, p_pracs uuid[],
                                           p_patients uuid[])
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_locked uuid[];
BEGIN
    IF p_action <> 'remove' THEN
        SELECT coalesce(array_agg(id), '{}') INTO v_locked
          FROM (SELECT id FROM practitioner WHERE id = ANY (p_pracs)
                 ORDER BY id FOR KEY SHARE) l;
        IF cardinality(v_locked) < (SELECT count(DISTINCT k) FROM unnest(p_pracs) k) THEN
            RETURN jsonb_build_object('error', 'deleted', 'deleted',
                                      (SELECT jsonb_agg(DISTINCT 'Practitioner/' || k)
                                         FROM unnest(p_pracs) k WHERE NOT k = ANY (v_locked)));
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
