-- Knowledge base for retrieval: uploaded documents split into chunks, searchable by
-- full text always and by embedding similarity where pgvector is available.

CREATE TABLE javari_knowledge_documents (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL: shared knowledge (e.g. runbooks) readable by every user.
    user_id      uuid REFERENCES javari_users (id) ON DELETE CASCADE,
    project_id   uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    filename     text NOT NULL,
    title        text,
    file_type    text,
    file_size    bigint CHECK (file_size IS NULL OR file_size >= 0),
    content_hash text,
    status       text NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'error')),
    error        text,
    chunk_count  integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    tags         text[] NOT NULL DEFAULT '{}',
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_javari_knowledge_documents_user_id_created_at
    ON javari_knowledge_documents (user_id, created_at DESC);
CREATE INDEX idx_javari_knowledge_documents_project_id ON javari_knowledge_documents (project_id);
CREATE INDEX idx_javari_knowledge_documents_content_hash ON javari_knowledge_documents (content_hash);

CREATE TRIGGER javari_knowledge_documents_set_updated_at
    BEFORE UPDATE ON javari_knowledge_documents
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


CREATE TABLE javari_document_chunks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL REFERENCES javari_knowledge_documents (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL CHECK (chunk_index >= 0),
    content     text NOT NULL,
    token_count integer NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    content_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_id, chunk_index)
);

CREATE INDEX idx_javari_document_chunks_content_tsv ON javari_document_chunks USING gin (content_tsv);


ALTER TABLE javari_knowledge_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_document_chunks ENABLE ROW LEVEL SECURITY;

CREATE POLICY javari_knowledge_documents_owner ON javari_knowledge_documents
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_knowledge_documents_shared_select ON javari_knowledge_documents
    FOR SELECT USING (user_id IS NULL);

CREATE POLICY javari_document_chunks_owner ON javari_document_chunks
    FOR ALL
    USING (EXISTS (
        SELECT 1 FROM javari_knowledge_documents d
        WHERE d.id = document_id AND d.user_id = (SELECT javari_current_user_id())
    ))
    WITH CHECK (EXISTS (
        SELECT 1 FROM javari_knowledge_documents d
        WHERE d.id = document_id AND d.user_id = (SELECT javari_current_user_id())
    ));
CREATE POLICY javari_document_chunks_shared_select ON javari_document_chunks
    FOR SELECT USING (EXISTS (
        SELECT 1 FROM javari_knowledge_documents d
        WHERE d.id = document_id AND d.user_id IS NULL
    ));


-- Optional pgvector: embedding column, HNSW index and similarity search function.
-- Everything that names the vector type goes through EXECUTE so that this migration
-- also applies where pgvector is not installed, or may not be created by this role;
-- callers should check for the `embedding` column and fall back to full-text search.
-- When this migration is the one that creates the extension it says so in the
-- extension's comment, so the down migration removes only what it added.
DO $$
DECLARE
    ext_schema  text;
    ext_version text;
BEGIN
    SELECT n.nspname, e.extversion INTO ext_schema, ext_version
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'vector';

    IF ext_schema IS NULL THEN
        SELECT default_version INTO ext_version
        FROM pg_available_extensions WHERE name = 'vector';
        IF ext_version IS NULL THEN
            RAISE NOTICE 'pgvector is not available: javari_document_chunks.embedding not created';
            RETURN;
        END IF;
    END IF;

    -- HNSW arrived in pgvector 0.5.0.
    IF string_to_array(substring(ext_version FROM '^[0-9]+(?:\.[0-9]+)*'), '.')::int[] < '{0,5,0}' THEN
        RAISE NOTICE 'pgvector % is older than 0.5.0: javari_document_chunks.embedding not created', ext_version;
        RETURN;
    END IF;

    IF ext_schema IS NULL THEN
        BEGIN
            EXECUTE 'CREATE EXTENSION vector';
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'not allowed to create extension vector: javari_document_chunks.embedding not created';
            RETURN;
        END;
        EXECUTE 'COMMENT ON EXTENSION vector IS '
            || quote_literal('vector data type and ivfflat and hnsw access methods '
                             || '(created by javari migration 20261122000006_knowledge)');
        SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'vector';
    END IF;

    EXECUTE format('ALTER TABLE javari_document_chunks ADD COLUMN embedding %I.vector(1536)', ext_schema);
    EXECUTE format(
        'CREATE INDEX idx_javari_document_chunks_embedding ON javari_document_chunks '
        'USING hnsw (embedding %I.vector_cosine_ops)', ext_schema);

    -- Cosine similarity search, as in the source system's match_document_chunks.
    -- Runs with the caller's rights, so row-level security applies.
    EXECUTE format($f$
        CREATE FUNCTION javari_match_document_chunks(
            query_embedding %1$I.vector(1536),
            match_threshold double precision,
            match_count integer
        )
        RETURNS TABLE (id uuid, document_id uuid, chunk_index integer, content text, similarity double precision)
        LANGUAGE sql STABLE
        AS $body$
            SELECT c.id, c.document_id, c.chunk_index, c.content,
                   1 - (c.embedding OPERATOR(%1$I.<=>) query_embedding) AS similarity
            FROM javari_document_chunks c
            WHERE c.embedding IS NOT NULL
              AND 1 - (c.embedding OPERATOR(%1$I.<=>) query_embedding) > match_threshold
            ORDER BY c.embedding OPERATOR(%1$I.<=>) query_embedding
            LIMIT match_count
        $body$
    $f$, ext_schema);
END;
$$;
