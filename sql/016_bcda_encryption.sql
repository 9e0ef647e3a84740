-- 016_bcda_encryption: BCDA's encrypted data files.
--
-- An ACO registers one RSA public key (dpcctl aco-key); a newer one
-- replaces it.  Registration, replacement and removal are audited as
-- credential changes (kind 'aco_key').  The key is checked by dpcctl
-- before it is stored (RSA, 2048 bits or more); bits and fingerprint (hex
-- SHA-256 of the DER SubjectPublicKeyInfo) are what it found.
CREATE TABLE aco_key (
    org_id      uuid PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    id          uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    pem         text NOT NULL CHECK (pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    bits        integer NOT NULL CHECK (bits >= 2048),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER aco_key_audit AFTER INSERT OR DELETE OR UPDATE OF pem ON aco_key
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('aco_key');

-- A job's files are encrypted for encrypt_key (the ACO's key as it was at
-- the kick-off, PEM), or plain when it is NULL: the kick-off decides, from
-- DPCEncryptFiles and the ACO's key, and the workers follow the row.
-- Ciphertext does not compress, so an encrypted job has no gzip twins.
ALTER TABLE export_job
    ADD COLUMN encrypt_key text,
    ADD CONSTRAINT export_job_encrypt_no_gzip CHECK (encrypt_key IS NULL OR NOT gzip);

-- A data file's AES key wrapped for the job's encrypt_key (RSA-OAEP, hex),
-- or NULL for a plain file (error files are never encrypted).
ALTER TABLE export_file
    ADD COLUMN encrypted_key text CHECK (encrypted_key ~ '^[0-9a-f]+$');

-- dpc_bcda_export_start takes the key (sql/functions/dpc_bcda_export_start.sql):
-- the old signature goes, or CREATE OR REPLACE would keep it as an overload.
DROP FUNCTION IF EXISTS dpc_bcda_export_start(uuid, text, text, smallint, text, text[],
                                              timestamptz, int, int, boolean, interval);
