-- 004_export: bulk export jobs, the batches of beneficiaries workers claim,
-- and the files they publish.

-- Beneficiaries whose data must not leave (DPC's consent check).
CREATE TABLE opt_out (
    mbi         text PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE export_job (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    roster_id        uuid REFERENCES roster (id) ON DELETE SET NULL,
    fhir_version     smallint NOT NULL CHECK (fhir_version IN (3, 4)),
    request_url      text NOT NULL,
    types            text[] NOT NULL,
    since            timestamptz,
    transaction_time timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    error            text,
    batches_total    integer NOT NULL DEFAULT 0,
    notes            text[] NOT NULL DEFAULT '{}',   -- ignored parameters (lenient)
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    expires_at       timestamptz,
    files_removed    boolean NOT NULL DEFAULT false
);
CREATE INDEX export_job_org ON export_job (org_id);
-- one running export per roster
CREATE UNIQUE INDEX export_job_one_running ON export_job (roster_id) WHERE status = 'running';

-- A job's beneficiaries, in batches a worker claims whole (FOR UPDATE SKIP
-- LOCKED).  A running batch whose heartbeat stopped is claimed again.
CREATE TABLE export_batch (
    job_id     uuid NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    mbis       text[] NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    worker_id  bigint,
    heartbeat  timestamptz,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX export_batch_todo ON export_batch (status, heartbeat) WHERE status <> 'done';

-- Published files.  A batch's files are recorded in the transaction that
-- marks the batch done, so a file is listed exactly when its batch counts.
CREATE TABLE export_file (
    job_id    uuid NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
    batch_seq integer NOT NULL,
    name      text NOT NULL,
    type      text NOT NULL,
    count     bigint NOT NULL,
    bytes     bigint NOT NULL,
    sha256    text NOT NULL,
    gz_name   text,
    gz_bytes  bigint,
    PRIMARY KEY (job_id, name)
);

-- Record an export of a roster, in one statement: the job, and its active,
-- attributed, not opted-out members in batches of p_batch.  The kick-off
-- scans no claims.  Refusals come back as {"error": ...}.
CREATE FUNCTION dpc_export_start(p_org uuid, p_roster uuid, p_version smallint,
                                 p_url text, p_types text[], p_since timestamptz,
                                 p_notes text[], p_batch int, p_lifetime interval)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_batches int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM roster WHERE id = p_roster AND org_id = p_org) THEN
        RETURN jsonb_build_object('error', 'not_found');
    END IF;
    SELECT id INTO v_job FROM export_job WHERE roster_id = p_roster AND status = 'running';
    IF v_job IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'running', 'job', v_job);
    END IF;
    INSERT INTO export_job (org_id, roster_id, fhir_version, request_url, types, since, notes)
    VALUES (p_org, p_roster, p_version, p_url, p_types, p_since, p_notes)
    RETURNING id INTO v_job;
    WITH m AS (
        SELECT p.mbi, row_number() OVER (ORDER BY p.mbi) - 1 AS i
          FROM attribution a JOIN patient p ON p.id = a.patient_id
         WHERE a.roster_id = p_roster AND a.removed_at IS NULL AND a.period_end > now()
           AND NOT EXISTS (SELECT 1 FROM opt_out o WHERE o.mbi = p.mbi)),
    b AS (
        INSERT INTO export_batch (job_id, seq, mbis)
        SELECT v_job, (i / p_batch)::int, array_agg(mbi ORDER BY mbi) FROM m
         GROUP BY i / p_batch
        RETURNING 1)
    SELECT count(*) INTO v_batches FROM b;
    IF v_batches = 0 THEN
        UPDATE export_job SET status = 'completed', completed_at = now(),
               expires_at = now() + p_lifetime WHERE id = v_job;
    ELSE
        UPDATE export_job SET batches_total = v_batches WHERE id = v_job;
        PERFORM pg_notify('dpc_jobs', v_job::text);
    END IF;
    RETURN jsonb_build_object('job', v_job);
EXCEPTION WHEN unique_violation THEN
    -- another kick-off for this roster won the race
    RETURN jsonb_build_object('error', 'running',
                              'job', (SELECT id FROM export_job WHERE roster_id = p_roster
                                       AND status = 'running' LIMIT 1));
END $$;
