-- 002_auth: provider organizations and their credentials.

CREATE TABLE organization (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    npi        text UNIQUE CHECK (npi ~ '^[0-9]{10}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Public keys that verify client assertions.  A key is registered once per
-- environment: its fingerprint (SHA-256 of the DER SubjectPublicKeyInfo) is
-- unique across organizations.
CREATE TABLE public_key (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 25),
    alg         text NOT NULL CHECK (alg IN ('RS384', 'ES384')),
    pem         text NOT NULL,
    fingerprint text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX public_key_org ON public_key (org_id);

-- Client tokens: the client_id of the JWT assertions.  Only a SHA-256 hash
-- of the token is kept; the token itself is shown once, at creation.
CREATE TABLE client_token (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_token_org ON client_token (org_id);
