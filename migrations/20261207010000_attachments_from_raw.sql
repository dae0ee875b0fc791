-- An attachment's bytes are stored once, inside its mail (messages.raw), not a second time
-- decoded (issue 17: the backlog's INSERT, the disk, the WAL and the backups carried every
-- attachment twice). A row keeps the attachment's place among its mail's attachments (`ord`,
-- from 1), its name, type, size and the SHA-256 of its decoded bytes; the desk decodes the
-- content from the stored mail when staff open it and serves it only if the hash matches.
-- Rows written before keep their content, which is served as it is.
--
-- Both columns stay nullable: an instance of the previous release still running during an
-- upgrade (docs/operations.md) writes rows without them, with their content.
ALTER TABLE attachments ADD COLUMN ord integer;
ALTER TABLE attachments ADD COLUMN sha256 bytea;
UPDATE attachments a SET ord = n.ord
FROM (SELECT id, row_number() OVER (PARTITION BY message_id ORDER BY id) AS ord
      FROM attachments) n
WHERE a.id = n.id;
