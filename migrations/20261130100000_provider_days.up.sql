-- Chat fallbacks and truncated answers per Provider per day, for the Provider page. The
-- console counts them in memory on the chat path and adds them here in one batched upsert
-- every few seconds (never a write per answer).

CREATE TABLE javari_provider_days (
    provider_id uuid NOT NULL REFERENCES javari_providers (id) ON DELETE CASCADE,
    day         date NOT NULL,
    fallbacks   bigint NOT NULL DEFAULT 0 CHECK (fallbacks >= 0),
    truncations bigint NOT NULL DEFAULT 0 CHECK (truncations >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, day)
);

COMMENT ON TABLE javari_provider_days IS 'Chat fallbacks away from and truncated answers of each AI Provider per day (UTC), added up by the console in batches.';
COMMENT ON COLUMN javari_provider_days.provider_id IS 'The Provider (javari_providers.id).';
COMMENT ON COLUMN javari_provider_days.day IS 'The day (UTC) the events happened.';
COMMENT ON COLUMN javari_provider_days.fallbacks IS 'Chats that left this Provider for a lower-priority one (it failed or refused) that day.';
COMMENT ON COLUMN javari_provider_days.truncations IS 'Answers from this Provider cut short that day (length or time limit, or the stream ended early).';
COMMENT ON COLUMN javari_provider_days.updated_at IS 'When a batch last added to this row.';
