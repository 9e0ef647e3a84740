-- 010_job_settings: what a job is exported with travels on its row.  The
-- workers (httpd's and dpc-worker on other hosts) read these from the job
-- they claim instead of from their own configuration, so they never
-- disagree with the httpd that took the kick-off, and the settings may
-- differ per virtual host.
--
-- Existing jobs get the values a worker used when nothing was configured
-- (DPCResourcesPerFile 100000, DPCExportGzip Off, DPCFileLifetime 24h),
-- and the dialect their FHIR version was served by.  The defaults serve
-- only this upgrade: a kick-off always says (dpc_export_start), and the
-- one default of each setting is httpd's (its configuration getters).
ALTER TABLE export_job
    ADD COLUMN dialect text NOT NULL DEFAULT 'dpc-v2',
    ADD COLUMN resources_per_file integer NOT NULL DEFAULT 100000
        CHECK (resources_per_file > 0),
    ADD COLUMN gzip boolean NOT NULL DEFAULT false,
    ADD COLUMN file_lifetime interval NOT NULL DEFAULT interval '24 hours'
        CHECK (file_lifetime > interval '0');
UPDATE export_job SET dialect = 'dpc-v1' WHERE fhir_version = 3;
ALTER TABLE export_job
    ALTER COLUMN dialect DROP DEFAULT,
    ALTER COLUMN resources_per_file DROP DEFAULT,
    ALTER COLUMN gzip DROP DEFAULT,
    ALTER COLUMN file_lifetime DROP DEFAULT;

-- dpc_export_start takes the settings (sql/functions/dpc_export_start.sql,
-- applied after the migrations): the old signature goes, or CREATE OR
-- REPLACE would leave it beside the new one as an overload.
DROP FUNCTION IF EXISTS dpc_export_start(uuid, uuid, smallint, text, text[], timestamptz,
                                         text[], int, interval);
