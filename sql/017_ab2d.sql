-- 017_ab2d: the AB2D dialect's tables.  A Part D sponsor is an
-- organization (PDP-100); it holds contracts (Z0000), each attested from a
-- date; each contract has one client-secret credential (the table BCDA's
-- credentials use, marked with the API it is for) and its enrollment by
-- month.  Its exports are jobs of one contract, with files numbered
-- "<contract>_0001.ndjson" in the job.

-- A contract: data is never given for dates before attested_at (nor
-- before 2020-01-01, the exports' own floor).  max_parallel_jobs: how many
-- of its jobs may run at once (AB2D's default is 1).
CREATE TABLE ab2d_contract (
    number            text PRIMARY KEY CHECK (number ~ '^[A-Z][0-9]{4}$'),
    org_id            uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    attested_at       timestamptz NOT NULL,
    max_parallel_jobs integer NOT NULL DEFAULT 1 CHECK (max_parallel_jobs BETWEEN 1 AND 1000),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ab2d_contract_org ON ab2d_contract (org_id);

-- Enrollment: the beneficiary was in the contract's plan in that month
-- (the first of the month).
CREATE TABLE ab2d_enrollment (
    contract text NOT NULL REFERENCES ab2d_contract (number) ON DELETE CASCADE,
    month    date NOT NULL CHECK (extract(day FROM month) = 1),
    mbi      text NOT NULL,
    PRIMARY KEY (contract, mbi, month)
);

-- Client-secret credentials serve BCDA and AB2D alike.  audience: the API
-- whose tokens it gets (the token endpoint of the other refuses it).
-- client_id: AB2D's are issued as text ("0oa2t0lsrdZw5uWRx297"); BCDA's
-- client id stays the row's id (client_id NULL).  contract: an AB2D
-- credential's one contract.  disabled: refused at once, kept for the
-- record.
ALTER TABLE bcda_credential
    ADD COLUMN audience text NOT NULL DEFAULT 'bcda' CHECK (audience IN ('bcda', 'ab2d')),
    ADD COLUMN client_id text CHECK (client_id ~ '^[A-Za-z0-9._-]{8,64}$'),
    ADD COLUMN contract text UNIQUE REFERENCES ab2d_contract (number) ON DELETE CASCADE,
    ADD COLUMN disabled boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT bcda_credential_contract CHECK ((audience = 'ab2d') = (contract IS NOT NULL));
CREATE UNIQUE INDEX bcda_credential_client ON bcda_credential ((coalesce(client_id, id::text)));

-- disabling, enabling and a new allow-list are audited too
CREATE TRIGGER bcda_credential_audit_state AFTER UPDATE OF disabled, ips ON bcda_credential
    FOR EACH ROW WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled OR OLD.ips IS DISTINCT FROM NEW.ips)
    EXECUTE FUNCTION dpc_audit_credential('bcda_credential', 'credential.changed');

-- An AB2D job: its contract, and the counters that number its files
-- (data and error files separately).
ALTER TABLE export_job
    ADD COLUMN contract text REFERENCES ab2d_contract (number) ON DELETE CASCADE,
    ADD COLUMN parts_named integer NOT NULL DEFAULT 0,
    ADD COLUMN errors_named integer NOT NULL DEFAULT 0;
CREATE INDEX export_job_contract_running ON export_job (contract)
    WHERE status = 'running' AND contract IS NOT NULL;

-- Downloads of a file that sent its last byte (DPCDownloadLimit counts them).
ALTER TABLE export_file ADD COLUMN downloads integer NOT NULL DEFAULT 0;
