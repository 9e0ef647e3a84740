-- 018_claim_columns: what export filters need of a resource, kept beside its
-- body so that no export parses a body to filter it.
--
--  claim_type       an ExplanationOfBenefit's claim type, from its `type`
--                   coding of system .../codesystem/eob-type (BFD writes
--                   CARRIER, DME, HHA, HOSPICE, INPATIENT, OUTPATIENT, PDE,
--                   SNF), lower case; NULL for the other resource types and
--                   for a code that is none of the eight.
--  service_start,   an ExplanationOfBenefit's billablePeriod (its start and
--  service_end      end dates; a dateTime keeps its date), NULL where absent.
--  coverage_status  a Coverage's status (active, cancelled, draft,
--                   entered-in-error); NULL for the other types.
--
-- Every loader fills them (dpcctl synth, dpcctl load, the COPY rows both
-- send); the rows already stored are filled here from their bodies, the one
-- time a body is parsed for them.
ALTER TABLE claims_resource
    ADD COLUMN claim_type text CHECK (claim_type IN ('carrier', 'dme', 'hha', 'hospice',
                                                     'inpatient', 'outpatient', 'pde', 'snf')),
    ADD COLUMN service_start date,
    ADD COLUMN service_end date,
    ADD COLUMN coverage_status text;

-- A FHIR date or dateTime's day, or NULL when the text is not one (a
-- partial date such as "2015-05", or a day no calendar has).
CREATE FUNCTION pg_temp.dpc_fhir_day(t text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF t IS NULL OR t !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T|$)' THEN
        RETURN NULL;
    END IF;
    RETURN left(t, 10)::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN NULL;
END $$;

UPDATE claims_resource c
   SET claim_type = (SELECT lower(x->>'code') FROM jsonb_array_elements(
                            CASE WHEN jsonb_typeof(b->'type'->'coding') = 'array'
                                 THEN b->'type'->'coding' ELSE '[]' END) x
                      WHERE x->>'system' = 'https://bluebutton.cms.gov/resources/codesystem/eob-type'
                        AND lower(x->>'code') IN ('carrier', 'dme', 'hha', 'hospice', 'inpatient',
                                                  'outpatient', 'pde', 'snf')
                      LIMIT 1),
       service_start = pg_temp.dpc_fhir_day(b->'billablePeriod'->>'start'),
       service_end = pg_temp.dpc_fhir_day(b->'billablePeriod'->>'end')
  FROM (SELECT mbi, fhir_version, resource_type, resource_id, body::jsonb AS b
          FROM claims_resource WHERE resource_type = 'ExplanationOfBenefit') s
 WHERE (c.mbi, c.fhir_version, c.resource_type, c.resource_id)
       = (s.mbi, s.fhir_version, s.resource_type, s.resource_id);

UPDATE claims_resource SET coverage_status = body::jsonb->>'status'
 WHERE resource_type = 'Coverage';

-- What a kick-off asks of an export beyond its types and _since, carried on
-- the job so that every worker applies it:
--   until        _until: resources last updated after it are left out
--   type_filter  _typeFilter, as dpc_type_filter.h writes it (the worker
--                turns it into a condition on the columns above)
-- and the organization-wide exports of DPC (Patient/$export, $export),
-- which have no roster: population 'patient' or 'system'.
ALTER TABLE export_job
    ADD COLUMN until timestamptz,
    ADD COLUMN type_filter jsonb;
ALTER TABLE export_job DROP CONSTRAINT export_job_population_check;
ALTER TABLE export_job ADD CONSTRAINT export_job_population_check
    CHECK (population IN ('all', 'runout', 'patient', 'system'));

-- The kick-off functions take them (sql/functions: the new signatures).
DROP FUNCTION IF EXISTS dpc_export_start(uuid, uuid, text, smallint, text, text[], timestamptz,
                                         text[], int, int, boolean, interval);
DROP FUNCTION IF EXISTS dpc_bcda_export_start(uuid, text, text, smallint, text, text[],
                                              timestamptz, int, int, boolean, interval);

-- A filtered export reads the claims that match through this index (its
-- columns are tested in the index; only matching rows are fetched from the
-- heap, each a page or so of body), not every claim of its beneficiaries.
CREATE INDEX claims_resource_eob_filter
    ON claims_resource (mbi, fhir_version, claim_type, service_end, service_start)
    WHERE resource_type = 'ExplanationOfBenefit';
