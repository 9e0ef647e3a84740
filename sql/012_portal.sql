-- 012_portal: the Sandbox Portal's accounts, teams, invites and the team
-- that owns each provider organization.
--
-- Passwords are bcrypt hashes that httpd checks itself (mod_authn_dbd's
-- AuthDBDUserPWQuery reads password_hash by email); mod_dpc only writes
-- them.  An email is an account's name and is kept in lower case.

-- An implementer (Health IT) team: what every portal page is scoped to.
CREATE TABLE portal_team (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE portal_account (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id       uuid NOT NULL REFERENCES portal_team (id) ON DELETE CASCADE,
    email         text NOT NULL UNIQUE
                  CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    password_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_account_team ON portal_account (team_id);

-- The team that manages a provider organization (one team per
-- organization; organizations made with dpcctl have none).
CREATE TABLE portal_team_org (
    org_id     uuid PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    team_id    uuid NOT NULL REFERENCES portal_team (id) ON DELETE CASCADE,
    created_by uuid REFERENCES portal_account (id) ON DELETE SET NULL
);
CREATE INDEX portal_team_org_team ON portal_team_org (team_id);

-- An invitation to join a team: a single-use link with an expiry.  Only a
-- SHA-256 hash of the link's token is kept.
CREATE TABLE portal_invite (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id    uuid NOT NULL REFERENCES portal_team (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (email = lower(email)),
    token_hash text NOT NULL UNIQUE,
    invited_by uuid REFERENCES portal_account (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_invite_team ON portal_invite (team_id);

-- Failed sign-ins by client address, to slow the next attempts.  Rows
-- older than a day no longer count and are removed as new ones come.
CREATE TABLE portal_login_failure (
    client text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_login_failure_client ON portal_login_failure (client, at);

-- Sign-up and invite acceptance are stored functions of their own:
-- sql/functions/dpc_portal_signup.sql and dpc_portal_accept.sql.
