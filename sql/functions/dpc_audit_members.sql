-- dpc_audit_members: roster members added, renewed, removed or deleted (with
-- their patient), one row per roster per statement, naming the MBIs (the
-- patient ids when the patient itself is deleted).  Statement-level, on
-- the transition tables of attribution.
CREATE OR REPLACE FUNCTION dpc_audit_members() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM dpc_audit('roster.members_added', r.org_id, NULL,
                          jsonb_build_object('roster', r.id, 'mbis', m.mbis))
           FROM (SELECT n.roster_id, jsonb_agg(p.mbi ORDER BY p.mbi) AS mbis
                   FROM new_rows n JOIN patient p ON p.id = n.patient_id
                  GROUP BY n.roster_id) m
           JOIN roster r ON r.id = m.roster_id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        -- a patient deleted with its memberships; a deleted roster's own
        -- are not repeated (roster.deleted says it, and it is gone here)
        PERFORM dpc_audit('roster.members_deleted', r.org_id, NULL,
                          jsonb_build_object('roster', r.id, 'patients', m.ids))
           FROM (SELECT o.roster_id, jsonb_agg(o.patient_id ORDER BY o.patient_id) AS ids
                   FROM old_rows o GROUP BY o.roster_id) m
           JOIN roster r ON r.id = m.roster_id;
        RETURN NULL;
    END IF;
    PERFORM dpc_audit('roster.members_' || m.change, r.org_id, NULL,
                      jsonb_build_object('roster', r.id, 'mbis', m.mbis))
       FROM (SELECT n.roster_id, c.change, jsonb_agg(p.mbi ORDER BY p.mbi) AS mbis
               FROM new_rows n JOIN old_rows o USING (roster_id, patient_id)
               JOIN patient p ON p.id = n.patient_id
               CROSS JOIN LATERAL (SELECT CASE
                   WHEN o.removed_at IS NULL AND n.removed_at IS NOT NULL THEN 'removed'
                   WHEN o.removed_at IS NOT NULL AND n.removed_at IS NULL THEN 'added'
                   WHEN n.removed_at IS NULL AND n.period_end <> o.period_end THEN 'renewed'
                   END AS change) c
              WHERE c.change IS NOT NULL
              GROUP BY n.roster_id, c.change) m
       JOIN roster r ON r.id = m.roster_id;
    RETURN NULL;
END $$;
