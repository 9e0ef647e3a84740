-- 003_attribution: practitioners, patients and attribution rosters, with
-- every attestation kept for audit.

-- Resources are kept as the organization sent them (compact JSON); id and
-- meta are set on the way out.  The identifying fields are columns.
CREATE TABLE practitioner (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    npi        text NOT NULL CHECK (npi ~ '^[0-9]{10}$'),
    family     text NOT NULL,
    given      text NOT NULL,
    resource   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, npi)
);

CREATE TABLE patient (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    mbi        text NOT NULL CHECK (mbi ~ '^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}$'),
    family     text,
    given      text,
    birth_date date,
    resource   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, mbi)
);

-- One roster (FHIR Group) per practitioner per organization.
CREATE TABLE roster (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    practitioner_id uuid NOT NULL REFERENCES practitioner (id) ON DELETE CASCADE,
    name            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, practitioner_id)
);

-- Membership.  A member is active while removed_at is null and now() is
-- before period_end: expiry needs no job, every reader applies the rule.
CREATE TABLE attribution (
    roster_id    uuid NOT NULL REFERENCES roster (id) ON DELETE CASCADE,
    patient_id   uuid NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    removed_at   timestamptz,
    PRIMARY KEY (roster_id, patient_id)
);
CREATE INDEX attribution_patient ON attribution (patient_id);

-- Every attestation received (the X-Provenance header), kept even when the
-- roster it was for is deleted.
CREATE TABLE attestation (
    id              bigserial PRIMARY KEY,
    org_id          uuid NOT NULL,
    roster_id       uuid,
    practitioner_id uuid,
    client_token_id uuid,
    action          text NOT NULL CHECK (action IN ('create', 'add', 'replace')),
    recorded        timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    provenance      text NOT NULL
);
CREATE INDEX attestation_roster ON attestation (roster_id);
