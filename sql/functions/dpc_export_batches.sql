-- dpc_export_batches: the batches of a population export just recorded
-- (job p_job): p_mbis, distinct and in order, p_batch to a batch; then
-- the job's batch count, or, with no one to export, the job completed at
-- once.  The workers are woken.  Shared by BCDA's and AB2D's kick-offs.
CREATE OR REPLACE FUNCTION dpc_export_batches(p_job uuid, p_batch int, p_mbis text[])
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
    IF v_batches = 0 THEN
        UPDATE export_job SET status = 'completed', completed_at = now(),
               expires_at = now() + file_lifetime WHERE id = p_job;
    ELSE
        UPDATE export_job SET batches_total = v_batches WHERE id = p_job;
        PERFORM pg_notify('dpc_jobs', p_job::text);
    END IF;
END $$;
