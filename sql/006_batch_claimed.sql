-- 006_batch_claimed: when a worker first took each export batch.  With
-- export_job.created_at it tells how long a job waited for a worker
-- (build/bench-export reports it for an idle server).
ALTER TABLE export_batch ADD COLUMN claimed_at timestamptz;
