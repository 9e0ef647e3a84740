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
    actor     text,                     -- 'client_token:<id>', 'worker:<id>', 'dpcctl:<user>'
    address   text,                     -- the client's IP address, when over HTTP
    job_id    uuid,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_event_at ON audit_event (at);
CREATE INDEX audit_event_org ON audit_event (org_id, at);
CREATE INDEX audit_event_job ON audit_event (job_id) WHERE job_id IS NOT NULL;

CREATE FUNCTION dpc_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dpc.audit_expire', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_append_only();

-- The retention (DPCAuditRetention): remove what is older than p_keep.
-- The only DELETE the trigger lets through.
CREATE FUNCTION dpc_audit_expire(p_keep interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('dpc.audit_expire', 'on', true);
    DELETE FROM audit_event WHERE at < now() - p_keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('dpc.audit_expire', 'off', true);
    RETURN n;
END $$;

-- Who did it: what the statement set with set_config('dpc.actor', ...,
-- true) (mod_dpc's glue does, for the credential or client token of the
-- request), else the database session's user and application_name
-- ("db:dpc/dpcctl").  Where from: dpc.address, the client's IP address.
CREATE FUNCTION dpc_audit_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpc.actor', true), ''),
                    'db:' || session_user
                    || coalesce('/' || nullif(current_setting('application_name', true), ''), ''))
$$;

CREATE FUNCTION dpc_audit(p_action text, p_org uuid, p_job uuid, p_detail jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit_event (action, org_id, actor, address, job_id, detail)
    VALUES (p_action, p_org, dpc_audit_actor(),
            nullif(current_setting('dpc.address', true), ''), p_job,
            coalesce(p_detail, '{}'))
$$;

-- Credentials: created and deleted, any way at all (API, dpcctl, an
-- organization's deletion).  TG_ARGV[0] names the kind.
CREATE FUNCTION dpc_audit_credential() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'INSERT' THEN r := NEW; ELSE r := OLD; END IF;
    PERFORM dpc_audit(CASE TG_OP WHEN 'INSERT' THEN 'credential.created'
                                 ELSE 'credential.deleted' END,
                      r.org_id, NULL,
                      jsonb_build_object('kind', TG_ARGV[0], 'id', r.id, 'label', r.label));
    RETURN NULL;
END $$;
CREATE TRIGGER client_token_audit AFTER INSERT OR DELETE ON client_token
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('client_token');
CREATE TRIGGER public_key_audit AFTER INSERT OR DELETE ON public_key
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_credential('public_key');

-- Exports: kicked off, and ended (completed, failed, cancelled).  Deferred
-- to the end of the transaction, when the job's batches (at kick-off) and
-- files (at completion) are all written.
CREATE FUNCTION dpc_audit_export() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        d := jsonb_build_object('roster', NEW.roster_id, 'types', to_jsonb(NEW.types),
                                'since', NEW.since, 'request', NEW.request_url,
                                'beneficiaries', (SELECT coalesce(sum(cardinality(mbis)), 0)
                                                    FROM export_batch WHERE job_id = NEW.id));
        PERFORM dpc_audit('export.started', NEW.org_id, NEW.id, d);
        -- a job with nothing to do is completed by the same kick-off
        IF NEW.status = 'running' THEN
            RETURN NULL;
        END IF;
    ELSIF OLD.status IS NOT DISTINCT FROM NEW.status THEN
        RETURN NULL;
    END IF;
    SELECT jsonb_build_object('roster', NEW.roster_id, 'error', NEW.error,
                              'files', count(*), 'resources', coalesce(sum(f.count), 0),
                              'bytes', coalesce(sum(f.bytes), 0))
      INTO d FROM export_file f WHERE f.job_id = NEW.id;
    PERFORM dpc_audit('export.' || NEW.status, NEW.org_id, NEW.id, d);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER export_job_audit AFTER INSERT OR UPDATE OF status ON export_job
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_export();

-- Rosters: created and deleted; members added, renewed and removed (one
-- row per roster per statement, naming the MBIs).
CREATE FUNCTION dpc_audit_roster() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'INSERT' THEN r := NEW; ELSE r := OLD; END IF;
    PERFORM dpc_audit(CASE TG_OP WHEN 'INSERT' THEN 'roster.created' ELSE 'roster.deleted' END,
                      r.org_id, NULL,
                      jsonb_build_object('roster', r.id, 'practitioner', r.practitioner_id));
    RETURN NULL;
END $$;
CREATE TRIGGER roster_audit AFTER INSERT OR DELETE ON roster
    FOR EACH ROW EXECUTE FUNCTION dpc_audit_roster();

CREATE FUNCTION dpc_audit_members() RETURNS trigger
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
CREATE TRIGGER attribution_audit_insert AFTER INSERT ON attribution
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
CREATE TRIGGER attribution_audit_delete AFTER DELETE ON attribution
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
CREATE TRIGGER attribution_audit_update AFTER UPDATE ON attribution
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dpc_audit_members();
