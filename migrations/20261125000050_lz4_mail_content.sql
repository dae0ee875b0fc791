-- Mail content (raw mails, their text, attachments, rendered outgoing mails) is compressed with
-- lz4 instead of PostgreSQL's default pglz: several times faster to write and to read, a little
-- larger on disk. Only values written from now on are affected. A server built without lz4
-- (or older than PostgreSQL 14) keeps pglz; the notice says so.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4, '
         || 'ALTER COLUMN text_body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE outbox ALTER COLUMN raw SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 is not available here (%); mail content stays compressed with pglz', SQLERRM;
END $$;
