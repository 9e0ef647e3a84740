-- dpc_export_file_ordinal: a new export_file row's place in its job's list
-- (ordinal: 0, 1, 2... in the order files are recorded, no gap), counted
-- on the job row (files_listed).  The workers record a batch's files while
-- they hold the job row (FOR UPDATE), so the places follow commit order
-- and a partial manifest's pages never reorder (sql/019_partial_manifests.sql).
CREATE OR REPLACE FUNCTION dpc_export_file_ordinal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE export_job SET files_listed = files_listed + 1 WHERE id = NEW.job_id
    RETURNING files_listed - 1 INTO NEW.ordinal;
    RETURN NEW;
END $$;
