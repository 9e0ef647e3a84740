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

-- JWT ids seen at /Token/auth, kept until the assertion they came from has
-- expired, so an assertion is accepted once across every httpd child and
-- host.  The workers purge expired rows.  UNLOGGED: every token request
-- writes here, and skipping the WAL raised the token endpoint's rate by a
-- quarter; the price is that a PostgreSQL crash empties the table, which
-- reopens replay for assertions used in the five minutes before it.
CREATE UNLOGGED TABLE used_jti (
    client_token_id uuid NOT NULL,
    jti             text NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (client_token_id, jti)
);
CREATE INDEX used_jti_expiry ON used_jti (expires_at);

-- Credentials deleted recently.  Access tokens are self-contained (checking
-- one needs no database round trip), so each httpd child keeps a small list
-- of revoked client token and key ids, refreshed from here at most once a
-- second: an access token whose client token or key was deleted stops
-- working within about a second.  Rows older than the longest access token
-- lifetime are purged by the workers.
CREATE TABLE revoked_credential (
    seq           bigserial PRIMARY KEY,
    credential_id uuid NOT NULL,
    revoked_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION dpc_revoke_credential() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revoked_credential (credential_id) VALUES (OLD.id);
    RETURN OLD;
END $$;

-- Deleting a credential any way at all (API, admin tool, organization
-- cascade) revokes the access tokens issued with it.
CREATE TRIGGER client_token_revoke AFTER DELETE ON client_token
    FOR EACH ROW EXECUTE FUNCTION dpc_revoke_credential();
CREATE TRIGGER public_key_revoke AFTER DELETE ON public_key
    FOR EACH ROW EXECUTE FUNCTION dpc_revoke_credential();
