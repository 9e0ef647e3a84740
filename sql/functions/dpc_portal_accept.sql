-- Accepting an invite: spends it and creates the account in its team.
-- The new account's email, or NULL when the invite is unknown, used,
-- expired, or its email has an account by now (the invite stays unused).
CREATE OR REPLACE FUNCTION dpc_portal_accept(p_token_hash text, p_hash text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_inv portal_invite%ROWTYPE;
BEGIN
    SELECT * INTO v_inv FROM portal_invite
        WHERE token_hash = p_token_hash AND used_at IS NULL AND expires_at > now()
        FOR UPDATE;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM portal_account WHERE email = v_inv.email) THEN
        RETURN NULL;
    END IF;
    UPDATE portal_invite SET used_at = now() WHERE id = v_inv.id;
    INSERT INTO portal_account (team_id, email, password_hash)
        VALUES (v_inv.team_id, v_inv.email, p_hash);
    RETURN v_inv.email;
EXCEPTION WHEN unique_violation THEN
    RETURN NULL;
END $$;
