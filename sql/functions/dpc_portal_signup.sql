-- Sign-up: a new team and its first account, in one transaction.  The
-- account's id, or NULL when the email already has an account.
CREATE OR REPLACE FUNCTION dpc_portal_signup(p_team text, p_email text, p_hash text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_team uuid;
    v_account uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM portal_account WHERE email = p_email) THEN
        RETURN NULL;
    END IF;
    INSERT INTO portal_team (name) VALUES (p_team) RETURNING id INTO v_team;
    INSERT INTO portal_account (team_id, email, password_hash)
        VALUES (v_team, p_email, p_hash) RETURNING id INTO v_account;
    RETURN v_account;
EXCEPTION WHEN unique_violation THEN
    -- the same email signed up at the same moment: nothing of this stays
    RETURN NULL;
END $$;
