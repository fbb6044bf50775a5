-- When a dynamically registered OAuth client last had an authorization code issued (a sign-in
-- completed): registrations nobody has used for a long time and that hold no grant are
-- deleted by the api's maintenance (a client that comes back registers again, RFC 7591).
-- NULL: none since this column; the registration's creation time stands for it.
ALTER TABLE oauth_clients ADD COLUMN IF NOT EXISTS last_used_at TIMESTAMPTZ;
