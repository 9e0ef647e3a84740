-- 013_bcda: the BCDA dialect's tables.  An ACO is an organization with a
-- CMS id (A9990); its credentials are client ids with hashed secrets; its
-- beneficiaries come from attribution loads, not rosters; its exports are
-- population exports with integer job ids.

ALTER TABLE organization
    ADD COLUMN cms_id text UNIQUE CHECK (cms_id ~ '^[A-Z][A-Z0-9]{4,9}$');

-- A credential: the client id is the row's id.  The secret is kept only as
-- PBKDF2-HMAC-SHA256 (secret_hash is "pbkdf2-sha256$ITER$SALT$HASH", made
-- and checked by the core, dpc_secret_*).  Rotation replaces the hash and
-- sets rotated_at: tokens issued before it stop working.  ips: the
-- allow-list (empty: any address), at most 8 addresses or CIDR ranges.
CREATE TABLE bcda_credential (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    secret_hash text NOT NULL,
    ips         cidr[] NOT NULL DEFAULT '{}' CHECK (cardinality(ips) <= 8),
    expires_at  timestamptz,
    rotated_at  timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bcda_credential_org ON bcda_credential (org_id);

CREATE TRIGGER bcda_credential_revoke AFTER DELETE ON bcda_credential
    FOR EACH ROW EXECUTE FUNCTION dpc_revoke_credential();
CREATE TRIGGER bcda_credential_audit AFTER INSERT OR DELETE OR UPDATE OF secret_hash
    ON bcda_credential
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('bcda_credential');

-- An attribution load: the ACO's beneficiaries for a performance year
-- (kind 'attribution') or the previous year's runout.  A newer load of the
-- same kind replaces the older (dpcctl deletes it in the same transaction).
CREATE TABLE aco_attribution (
    id               bigserial PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('attribution', 'runout')),
    performance_year integer NOT NULL CHECK (performance_year BETWEEN 2000 AND 2100),
    file_name        text,
    loaded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX aco_attribution_one ON aco_attribution (org_id, kind);

CREATE TABLE aco_beneficiary (
    attribution_id bigint NOT NULL REFERENCES aco_attribution (id) ON DELETE CASCADE,
    mbi            text NOT NULL,
    PRIMARY KEY (attribution_id, mbi)
);

-- Population exports: the job's public number (BCDA's integer job id) and
-- which population (all, runout); roster_id stays NULL for them.
ALTER TABLE export_job
    ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    ADD COLUMN population text CHECK (population IN ('all', 'runout'));
CREATE INDEX export_job_population_running ON export_job (org_id, dialect)
    WHERE status = 'running' AND population IS NOT NULL;
