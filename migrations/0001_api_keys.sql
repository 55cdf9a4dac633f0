-- Warden API keys. Only a SHA-256 of each secret is stored; the key id is the lookup.
CREATE TABLE api_keys (
    id                       text PRIMARY KEY,
    tenant                   text NOT NULL,
    name                     text,
    secret_sha256            bytea NOT NULL,
    -- Set during a rotation grace period: the old secret keeps working until the deadline.
    previous_secret_sha256   bytea,
    previous_valid_until     timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    rotated_at               timestamptz,
    revoked_at               timestamptz,
    expires_at               timestamptz,
    rate_limit               jsonb,
    metadata                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT api_keys_tenant_not_blank CHECK (tenant <> '')
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant);
