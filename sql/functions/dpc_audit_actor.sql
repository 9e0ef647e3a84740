-- Who did it: what the statement set with set_config('dpc.actor', ...,
-- true) (mod_dpc's glue does, for the credential or client token of the
-- request), else the database session's user and application_name
-- ("db:dpc/dpcctl").  Where from: dpc.address, the client's IP address.
CREATE OR REPLACE FUNCTION dpc_audit_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpc.actor', true), ''),
                    'db:' || session_user
                    || coalesce('/' || nullif(current_setting('application_name', true), ''), ''))
$$;
