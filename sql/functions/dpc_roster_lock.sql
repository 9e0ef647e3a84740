-- dpc_roster_lock: lock what a write of p_action depends on; NULL when all
-- of it is still there, else the refusal (dpc_roster_write.sql says what
-- each means).  Caller's transaction; patients in uuid order.
CREATE OR REPLACE FUNCTION dpc_roster_lock(p_action text, p_roster uuid, p_prac uuid, p_patients uuid[])
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
