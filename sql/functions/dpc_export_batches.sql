-- dpc_export_batches: the batches of an export just recorded (job p_job):
-- p_mbis, distinct and in order, p_batch to a batch; then the job's batch
-- count, or, with no one to export, the job completed at once, unless
-- p_report (its error file has something to say: one empty batch writes
-- it).  The workers are woken.  Every kick-off's (DPC's, BCDA's, AB2D's).
CREATE OR REPLACE FUNCTION dpc_export_batches(p_job uuid, p_batch int, p_mbis text[],
                                              p_report boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_batches int;
BEGIN
    WITH m AS (
        SELECT mbi, row_number() OVER (ORDER BY mbi) - 1 AS i
          FROM (SELECT DISTINCT unnest(p_mbis) AS mbi) u),
    b AS (
        INSERT INTO export_batch (job_id, seq, mbis)
        SELECT p_job, (i / p_batch)::int, array_agg(mbi ORDER BY mbi) FROM m
         GROUP BY i / p_batch
        RETURNING 1)
    SELECT count(*) INTO v_batches FROM b;
    IF v_batches = 0 AND p_report THEN
        INSERT INTO export_batch (job_id, seq, mbis) VALUES (p_job, 0, '{}');
        v_batches := 1;
    END IF;
    IF v_batches = 0 THEN
        UPDATE export_job SET status = 'completed', completed_at = now(),
               expires_at = now() + file_lifetime WHERE id = p_job;
    ELSE
        UPDATE export_job SET batches_total = v_batches WHERE id = p_job;
        PERFORM pg_notify('dpc_jobs', p_job::text);
    END IF;
END $$;
