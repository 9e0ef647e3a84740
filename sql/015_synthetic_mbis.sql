-- 015_synthetic_mbis: BFD's synthetic MBIs, an S in the second position (a
-- letter no real MBI has), are stored like real ones: the synthetic claims
-- use them, and a sandbox (DPCSyntheticIdentifiers On) accepts them.
-- Whether one is accepted is the module's rule; the table only keeps the
-- MBI's form.
ALTER TABLE beneficiary DROP CONSTRAINT beneficiary_mbi_check;
ALTER TABLE beneficiary ADD CONSTRAINT beneficiary_mbi_check CHECK (mbi ~ '^[1-9][AC-HJKMNP-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}$');
ALTER TABLE patient DROP CONSTRAINT patient_mbi_check;
ALTER TABLE patient ADD CONSTRAINT patient_mbi_check CHECK (mbi ~ '^[1-9][AC-HJKMNP-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}$');
