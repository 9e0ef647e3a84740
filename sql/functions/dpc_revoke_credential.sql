-- dpc_revoke_credential: trigger on client_token and public_key (002):
-- deleting a credential any way at all (API, admin tool, organization
-- cascade) records it, which revokes the access tokens issued with it.
CREATE OR REPLACE FUNCTION dpc_revoke_credential() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revoked_credential (credential_id) VALUES (OLD.id);
    RETURN OLD;
END $$;
