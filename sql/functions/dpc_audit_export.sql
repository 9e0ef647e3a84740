-- Exports: kicked off, and ended (completed, failed, cancelled).  Deferred
-- to the end of the transaction, when the job's batches (at kick-off) and
-- files (at completion) are all written.
CREATE OR REPLACE FUNCTION dpc_audit_export() RETURNS trigger
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
