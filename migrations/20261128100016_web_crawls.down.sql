DROP INDEX IF EXISTS idx_javari_knowledge_documents_web_crawl_id_source_url;
DELETE FROM javari_knowledge_documents WHERE source_type = 'web_crawl';
ALTER TABLE javari_knowledge_documents
    DROP COLUMN IF EXISTS web_crawl_id,
    DROP COLUMN IF EXISTS source_url,
    DROP COLUMN IF EXISTS source_type;
DROP TABLE IF EXISTS javari_web_crawl_pages;
DROP TABLE IF EXISTS javari_web_crawl_runs;
DROP TABLE IF EXISTS javari_web_crawls;
