-- 011_operations: what operators watch and what auditors read.
--
-- export_batch.done_at: when a batch was finished, for server-status's
-- batches per second and bytes written.
ALTER TABLE export_batch ADD COLUMN done_at timestamptz;
CREATE INDEX export_batch_done_at ON export_batch (done_at) WHERE done_at IS NOT NULL;

-- The audit trail: every token issued, export kicked off, cancelled,
-- completed or failed, file downloaded, and roster or credential change.
-- Append-only: no foreign keys (a row outlives what it names), and a
-- trigger refuses every UPDATE and TRUNCATE, and every DELETE but the
-- retention's own (dpc_audit_expire).  For a guarantee against the
-- application's role itself, run the migrations as an owner role and grant
-- the application's role only INSERT and SELECT (see the README).
CREATE TABLE audit_event (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    action    text NOT NULL,            -- 'token.issued', 'export.started', ...
    org_id    uuid,                     -- the organization acted for
    actor     text,                     -- 'client_token:<id>', 'db:<user>/<application>'
    address   text,                     -- the client's IP address, when over HTTP
    job_id    uuid,
    detail    jsonb NOT NULL DEFAULT '{}'
);
-- rows arrive in time order and never change: a BRIN index on the time is
-- a few pages, and cheap for every insert
CREATE INDEX audit_event_at ON audit_event USING brin (at);
CREATE INDEX audit_event_org ON audit_event (org_id, at);
CREATE INDEX audit_event_job ON audit_event (job_id) WHERE job_id IS NOT NULL;

-- The triggers that write and guard the trail.  Their functions' bodies
-- live in sql/functions/ (dpc_audit*.sql), applied right after the
-- migrations; the triggers need the functions to exist, so each is made
-- here first as an empty shell.
CREATE FUNCTION dpc_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE FUNCTION dpc_audit_credential() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE FUNCTION dpc_audit_export() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE FUNCTION dpc_audit_roster() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE FUNCTION dpc_audit_members() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';

CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_append_only();

-- credentials: created and deleted, any way at all (API, dpcctl, an
-- organization's deletion); the argument names the kind
CREATE TRIGGER client_token_audit AFTER INSERT OR DELETE ON client_token
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('client_token');
CREATE TRIGGER public_key_audit AFTER INSERT OR DELETE ON public_key
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('public_key');

-- exports: deferred to the end of the transaction, when the job's batches
-- (at kick-off) and files (at completion) are all written
CREATE CONSTRAINT TRIGGER export_job_audit AFTER INSERT OR UPDATE OF status ON export_job
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_export();

CREATE TRIGGER roster_audit AFTER INSERT OR DELETE ON roster
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_roster();
CREATE TRIGGER attribution_audit_insert AFTER INSERT ON attribution
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
CREATE TRIGGER attribution_audit_delete AFTER DELETE ON attribution
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
CREATE TRIGGER attribution_audit_update AFTER UPDATE ON attribution
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
