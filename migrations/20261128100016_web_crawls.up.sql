-- Web sources crawled on a schedule into the knowledge base (the operations guide's
-- `javari_web_crawls`, 2 AM UTC daily by default). A crawled page is a knowledge document
-- with `source_type = 'web_crawl'` and its URL as the citation.

CREATE TABLE javari_web_crawls (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The owner: the crawled pages are the owner's knowledge documents.
    user_id                   uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    project_id                uuid REFERENCES javari_projects (id) ON DELETE SET NULL,
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The start URL (for scope 'sitemap': the sitemap's URL).
    url                       text NOT NULL CHECK (url ~ '^https?://'),
    scope                     text NOT NULL DEFAULT 'host'
                                  CHECK (scope IN ('host', 'prefix', 'list', 'sitemap')),
    path_prefix               text,
    -- Scope 'list': exactly these pages.
    urls                      text[] NOT NULL DEFAULT '{}',
    max_depth                 integer NOT NULL DEFAULT 3 CHECK (max_depth BETWEEN 0 AND 10),
    max_pages                 integer NOT NULL DEFAULT 200 CHECK (max_pages BETWEEN 1 AND 5000),
    -- A cron expression in UTC; the guide's daily crawl at 2 AM by default.
    crawl_frequency           text NOT NULL DEFAULT '0 2 * * *',
    is_active                 boolean NOT NULL DEFAULT true,
    -- The one origin (scheme://host:port) an admin allowed to be reached on a private,
    -- loopback or link-local address; NULL: public addresses only.
    private_network_origin    text,
    private_network_allowed_by uuid REFERENCES javari_users (id) ON DELETE SET NULL,
    last_crawled_at           timestamptz,
    next_crawl_at             timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (scope <> 'prefix' OR path_prefix IS NOT NULL),
    CHECK (cardinality(urls) <= 1000)
);

CREATE INDEX idx_javari_web_crawls_user_id ON javari_web_crawls (user_id);
CREATE INDEX idx_javari_web_crawls_next_crawl_at ON javari_web_crawls (next_crawl_at)
    WHERE is_active;

CREATE TRIGGER javari_web_crawls_set_updated_at
    BEFORE UPDATE ON javari_web_crawls
    FOR EACH ROW EXECUTE FUNCTION javari_set_updated_at();


-- One row per crawl, with its counts and errors.
CREATE TABLE javari_web_crawl_runs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    web_crawl_id       uuid NOT NULL REFERENCES javari_web_crawls (id) ON DELETE CASCADE,
    user_id            uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    trigger            text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status             text NOT NULL DEFAULT 'running'
                           CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    requests           integer NOT NULL DEFAULT 0,
    pages_stored       integer NOT NULL DEFAULT 0,
    pages_changed      integer NOT NULL DEFAULT 0,
    pages_unchanged    integer NOT NULL DEFAULT 0,
    pages_not_modified integer NOT NULL DEFAULT 0,
    pages_removed      integer NOT NULL DEFAULT 0,
    pages_failed       integer NOT NULL DEFAULT 0,
    robots_excluded    integer NOT NULL DEFAULT 0,
    bytes_fetched      bigint NOT NULL DEFAULT 0,
    -- [{"url": ..., "error": ...}], at most 100.
    errors             jsonb NOT NULL DEFAULT '[]'::jsonb,
    error              text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);

CREATE INDEX idx_javari_web_crawl_runs_web_crawl_id_started_at
    ON javari_web_crawl_runs (web_crawl_id, started_at DESC);


-- What the crawler remembers of each URL between crawls: validators for conditional
-- requests, the content hash, the links found (to go on through a 304), the document.
CREATE TABLE javari_web_crawl_pages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    web_crawl_id    uuid NOT NULL REFERENCES javari_web_crawls (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES javari_users (id) ON DELETE CASCADE,
    url             text NOT NULL,
    kind            text NOT NULL DEFAULT 'page' CHECK (kind IN ('page', 'robots', 'sitemap')),
    etag            text,
    last_modified   text,
    content_hash    text,
    links           text[] NOT NULL DEFAULT '{}',
    -- robots.txt only: its text, to apply it again after a 304.
    body            text,
    document_id     uuid,
    missed_crawls   integer NOT NULL DEFAULT 0 CHECK (missed_crawls >= 0),
    last_error      text,
    last_fetched_at timestamptz,
    UNIQUE (web_crawl_id, url)
);


ALTER TABLE javari_knowledge_documents
    ADD COLUMN source_type text NOT NULL DEFAULT 'upload'
        CHECK (source_type IN ('upload', 'web_crawl')),
    ADD COLUMN source_url text,
    ADD COLUMN web_crawl_id uuid REFERENCES javari_web_crawls (id) ON DELETE CASCADE;

-- A page is stored once per source.
CREATE UNIQUE INDEX idx_javari_knowledge_documents_web_crawl_id_source_url
    ON javari_knowledge_documents (web_crawl_id, source_url) WHERE web_crawl_id IS NOT NULL;

ALTER TABLE javari_web_crawl_pages
    ADD CONSTRAINT javari_web_crawl_pages_document_id_fkey
    FOREIGN KEY (document_id) REFERENCES javari_knowledge_documents (id) ON DELETE SET NULL;


-- Row-level security as for knowledge documents: the owner's rows only.
ALTER TABLE javari_web_crawls ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_web_crawl_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE javari_web_crawl_pages ENABLE ROW LEVEL SECURITY;

CREATE POLICY javari_web_crawls_owner ON javari_web_crawls
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_web_crawl_runs_owner ON javari_web_crawl_runs
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
CREATE POLICY javari_web_crawl_pages_owner ON javari_web_crawl_pages
    FOR ALL
    USING (user_id = (SELECT javari_current_user_id()))
    WITH CHECK (user_id = (SELECT javari_current_user_id()));
