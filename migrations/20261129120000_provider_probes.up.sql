-- One row per Provider probe, for the Provider page's latency over time. Kept 14 days: the
-- operator deletes a Provider's older rows as it records each probe.

CREATE TABLE javari_provider_probes (
    id          bigserial PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES javari_providers (id) ON DELETE CASCADE,
    healthy     boolean NOT NULL,
    latency_ms  integer CHECK (latency_ms IS NULL OR latency_ms >= 0),
    error       text,
    probed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_provider_probes_provider_id_probed_at
    ON javari_provider_probes (provider_id, probed_at);

COMMENT ON TABLE javari_provider_probes IS 'Probes of each AI Provider by the operator: health and latency per probe (kept 14 days).';
COMMENT ON COLUMN javari_provider_probes.id IS 'Primary key, auto-generated.';
COMMENT ON COLUMN javari_provider_probes.provider_id IS 'The Provider probed (javari_providers.id).';
COMMENT ON COLUMN javari_provider_probes.healthy IS 'Whether the probe found the Provider healthy (not down).';
COMMENT ON COLUMN javari_provider_probes.latency_ms IS 'Time the probe took in milliseconds; NULL when it got no answer.';
COMMENT ON COLUMN javari_provider_probes.error IS 'Why the probe failed, if it did (never a key).';
COMMENT ON COLUMN javari_provider_probes.probed_at IS 'When the probe ran (UTC).';
