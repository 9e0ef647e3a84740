-- 001_core: the claims store (the local stand-in for Blue Button) and the
-- worker registry.  Applied by `dpcctl migrate` inside one transaction.

-- One row per beneficiary known to the claims store.
CREATE TABLE beneficiary (
    mbi          text PRIMARY KEY CHECK (mbi ~ '^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}$'),
    bene_id      text NOT NULL UNIQUE,
    last_updated timestamptz NOT NULL
);

-- One row per FHIR resource per FHIR version (3 = STU3 for v1 routes,
-- 4 = R4 for v2 routes).  The body is compact JSON text, exactly the bytes an
-- export writes: nothing on the export path parses or re-serializes it.  lz4
-- TOAST compression reads several times faster than the pglz default.
CREATE TABLE claims_resource (
    mbi           text NOT NULL REFERENCES beneficiary (mbi) ON DELETE CASCADE,
    fhir_version  smallint NOT NULL CHECK (fhir_version IN (3, 4)),
    resource_type text NOT NULL
                  CHECK (resource_type IN ('Patient', 'Coverage', 'ExplanationOfBenefit')),
    resource_id   text NOT NULL,
    last_updated  timestamptz NOT NULL,
    body          text COMPRESSION lz4 NOT NULL,
    -- mbi first: exports read a batch of beneficiaries, and the foreign
    -- key's cascade finds a beneficiary's rows through it
    PRIMARY KEY (mbi, fhir_version, resource_type, resource_id)
);

-- Export workers register here and heartbeat; a worker whose heartbeat is
-- stale is dead, and the batches it held are reclaimed by the others.
CREATE TABLE worker (
    id         bigserial PRIMARY KEY,
    host       text NOT NULL,
    pid        integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat  timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);
CREATE INDEX worker_live ON worker (heartbeat) WHERE stopped_at IS NULL;
