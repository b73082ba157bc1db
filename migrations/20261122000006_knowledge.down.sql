DROP FUNCTION IF EXISTS javari_match_document_chunks;
DROP TABLE IF EXISTS javari_document_chunks;
DROP TABLE IF EXISTS javari_knowledge_documents;

-- Remove pgvector only if the up migration created it (see its comment there) and
-- nothing else has come to depend on it since.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_extension e
        WHERE e.extname = 'vector'
          AND obj_description(e.oid, 'pg_extension') LIKE '%(created by javari migration 20261122000006_knowledge)'
    ) THEN
        BEGIN
            EXECUTE 'DROP EXTENSION vector';
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'extension vector is still in use elsewhere: kept';
        END;
    END IF;
END;
$$;
