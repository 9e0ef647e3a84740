-- 019_partial_manifests: the kick-off's output options (Bulk Data IG's next
-- version): allowPartialManifests and organizeOutputBy, kept on the job,
-- and the order in which a job's files were listed, which pages of a
-- partial manifest are cut from.
--
-- The options come from the kick-off's statement without another argument
-- to the start functions (dpc_export_start, dpc_bcda_export_start): the
-- statement sets them transaction-locally, as it sets dpc.actor for the
-- audit trail, and the job row takes them as its columns' defaults:
--   dpc.allow_partial   'true' or 'false' (unset: false)
--   dpc.organize_by     a resource type ('Patient'), or '' / unset: none
-- Any other insert of a job (an older httpd, dpcctl) gets the defaults of
-- before: no partial manifests, files of one type each.
ALTER TABLE export_job
    ADD COLUMN allow_partial boolean NOT NULL
        DEFAULT coalesce(nullif(current_setting('dpc.allow_partial', true), '')::boolean,
                         false),
    ADD COLUMN organize_by text
        DEFAULT nullif(current_setting('dpc.organize_by', true), '')
        CHECK (organize_by IN ('Patient')),
    ADD COLUMN files_listed integer NOT NULL DEFAULT 0;

-- A file's place in its job's list: 0, 1, 2... in the order the files were
-- recorded (committed), never changing, with no gap.  A partial manifest's
-- page N holds the files of places [(N-1) * size, N * size): a file once
-- seen on a page stays there, and a new one goes after every file seen.
-- The workers record a batch's files while they hold the job row locked
-- (FOR UPDATE), so the counter below is taken in commit order.
ALTER TABLE export_file ADD COLUMN ordinal integer;
UPDATE export_file f SET ordinal = o.n
  FROM (SELECT job_id, name, (row_number() OVER (PARTITION BY job_id
                                                 ORDER BY type, batch_seq, name) - 1)::int AS n
          FROM export_file) o
 WHERE f.job_id = o.job_id AND f.name = o.name;
UPDATE export_job j SET files_listed = (SELECT count(*) FROM export_file f WHERE f.job_id = j.id);
ALTER TABLE export_file ALTER COLUMN ordinal SET NOT NULL;
CREATE UNIQUE INDEX export_file_ordinal ON export_file (job_id, ordinal);

-- The trigger's function lives in sql/functions/dpc_export_file_ordinal.sql,
-- applied right after the migrations; made here first as a shell.
CREATE FUNCTION dpc_export_file_ordinal() RETURNS trigger LANGUAGE plpgsql
    AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER export_file_ordinal BEFORE INSERT ON export_file
    FOR EACH ROW EXECUTE FUNCTION dpc_export_file_ordinal();
