-- 014_groups_per_request: DPC v2 makes a new Group for every export
-- request, each member naming its own attributed practitioner (its guide:
-- "You must create a new Group for every export request").  DPC v1 keeps
-- one roster per practitioner per organization.
--   roster.per_request       true for a v2 Group: no practitioner of its own
--                            (practitioner_id NULL), any number per NPI
--   attribution.practitioner_id  the member's practitioner (on a v1 roster,
--                            the roster's)
ALTER TABLE roster ADD COLUMN per_request boolean NOT NULL DEFAULT false;
-- meta.versionId (the v2 guide's Group has one): 0 when made, +1 a write
ALTER TABLE roster ADD COLUMN version integer NOT NULL DEFAULT 0;
ALTER TABLE roster ALTER COLUMN practitioner_id DROP NOT NULL;
ALTER TABLE roster DROP CONSTRAINT roster_org_id_practitioner_id_key;
CREATE UNIQUE INDEX roster_one_per_practitioner ON roster (org_id, practitioner_id)
    WHERE NOT per_request;
ALTER TABLE roster ADD CONSTRAINT roster_practitioner_unless_per_request
    CHECK (per_request OR practitioner_id IS NOT NULL);

ALTER TABLE attribution ADD COLUMN practitioner_id uuid
    REFERENCES practitioner (id) ON DELETE CASCADE;
-- (changes no period nor removal: the audit trigger records nothing)
UPDATE attribution a SET practitioner_id = r.practitioner_id
  FROM roster r WHERE r.id = a.roster_id;
ALTER TABLE attribution ALTER COLUMN practitioner_id SET NOT NULL;
CREATE INDEX attribution_practitioner ON attribution (practitioner_id);

-- their parameters changed: sql/functions/ holds the new ones
DROP FUNCTION dpc_roster_write(uuid, uuid, text, text, text, jsonb, uuid, text, timestamptz,
                               text, uuid, int, int);
DROP FUNCTION dpc_roster_lock(text, uuid, uuid, uuid[]);
