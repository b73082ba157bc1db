-- Conversations, their messages and rolling summaries, and per-call AI cost records.

CREATE TABLE javari_conversations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    project_id      uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    parent_id       uuid REFERENCES javari_conversations (id) ON DELETE SET NULL,
    title           text NOT NULL DEFAULT 'New conversation',
    summary         text,
    model           text,
    provider        text,
    input_tokens    bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens    bigint NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    cost_usd        numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    -- 'paused' and 'completed' are the source system's states, kept alongside ours.
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'archived', 'deleted', 'paused', 'completed')),
    starred         boolean NOT NULL DEFAULT false,
    message_count   integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    last_message_at timestamptz,
    tags            text[] NOT NULL DEFAULT '{}',
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    search_tsv      tsvector GENERATED ALWAYS AS (
                        to_tsvector('english', coalesce(title, '') || ' ' || coalesce(summary, ''))
                    ) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);

CREATE INDEX idx_javari_conversations_user_id_created_at
    ON javari_conversations (user_id, created_at DESC) INCLUDE (title, status);
CREATE INDEX idx_javari_conversations_user_id_updated_at
    ON javari_conversations (user_id, updated_at DESC);
CREATE INDEX idx_javari_conversations_project_id ON javari_conversations (project_id);
CREATE INDEX idx_javari_conversations_parent_id ON javari_conversations (parent_id);
CREATE INDEX idx_javari_conversations_status ON javari_conversations (status);
CREATE INDEX idx_javari_conversations_search_tsv ON javari_conversations USING gin (search_tsv);

CREATE TRIGGER javari_conversations_set_updated_at
    BEFORE UPDATE ON javari_conversations
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES javari_conversations (id) ON DELETE CASCADE,
    -- Denormalised owner, for per-user usage queries without a join.
    user_id         uuid REFERENCES javari_users (id) ON DELETE SET NULL,
    role            text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content         text NOT NULL,
    model           text,
    provider        text,
    input_tokens    integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_usd        numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    latency_ms      integer CHECK (latency_ms IS NULL OR latency_ms >= 0),
    error           text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    content_tsv     tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_messages_conversation_id_created_at
    ON javari_messages (conversation_id, created_at);
CREATE INDEX idx_javari_messages_user_id_created_at ON javari_messages (user_id, created_at);
CREATE INDEX idx_javari_messages_created_at ON javari_messages (created_at);
CREATE INDEX idx_javari_messages_content_tsv ON javari_messages USING gin (content_tsv);


CREATE TABLE javari_conversation_summaries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES javari_conversations (id) ON DELETE CASCADE,
    summary         text NOT NULL,
    token_count     integer NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    -- Last message folded into this summary.
    up_to_message_id uuid REFERENCES javari_messages (id) ON DELETE SET NULL,
    model           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_conversation_summaries_conversation_id_created_at
    ON javari_conversation_summaries (conversation_id, created_at DESC);
CREATE INDEX idx_javari_conversation_summaries_created_at
    ON javari_conversation_summaries (created_at);
CREATE INDEX idx_javari_conversation_summaries_up_to_message_id
    ON javari_conversation_summaries (up_to_message_id);


-- Kept when the user or conversation goes away, for billing history.
CREATE TABLE javari_cost_tracking (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid REFERENCES javari_users (id) ON DELETE SET NULL,
    conversation_id uuid REFERENCES javari_conversations (id) ON DELETE SET NULL,
    provider        text NOT NULL,
    model           text NOT NULL,
    input_tokens    integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_usd        numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    task_type       text,
    -- e.g. '2026-11'
    billing_period  text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_cost_tracking_user_id_created_at ON javari_cost_tracking (user_id, created_at);
CREATE INDEX idx_javari_cost_tracking_provider_created_at ON javari_cost_tracking (provider, created_at);
CREATE INDEX idx_javari_cost_tracking_conversation_id ON javari_cost_tracking (conversation_id);
CREATE INDEX idx_javari_cost_tracking_created_at ON javari_cost_tracking (created_at);


ALTER TABLE javari_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_conversation_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_cost_tracking ENABLE ROW LEVEL SECURITY;

CREATE POLICY javari_conversations_owner ON javari_conversations
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));

-- Messages and summaries belong to whoever owns their conversation.
CREATE POLICY javari_messages_owner ON javari_messages
    FOR ALL
    USING (EXISTS (
        SELECT 1 FROM javari_conversations c
        WHERE c.id = conversation_id AND c.user_id = (SELECT javari_current_user_id())
    ))
    WITH CHECK (EXISTS (
        SELECT 1 FROM javari_conversations c
        WHERE c.id = conversation_id AND c.user_id = (SELECT javari_current_user_id())
    ));

CREATE POLICY javari_conversation_summaries_owner ON javari_conversation_summaries
    FOR ALL
    USING (EXISTS (
        SELECT 1 FROM javari_conversations c
        WHERE c.id = conversation_id AND c.user_id = (SELECT javari_current_user_id())
    ))
    WITH CHECK (EXISTS (
        SELECT 1 FROM javari_conversations c
        WHERE c.id = conversation_id AND c.user_id = (SELECT javari_current_user_id())
    ));

-- Cost rows are written by the service; users may only read their own.
CREATE POLICY javari_cost_tracking_owner_select ON javari_cost_tracking
    FOR SELECT USING (user_id = (SELECT javari_current_user_id()));
