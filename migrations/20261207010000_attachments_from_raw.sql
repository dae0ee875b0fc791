-- An attachment's bytes are stored once, inside its mail (messages.raw), not a second time
-- decoded (issue 17: the backlog's INSERT, the disk, the WAL and the backups carried every
-- attachment twice). A row keeps the attachment's place among its mail's attachments (from 1),
-- its name, type and size; the desk decodes the content from the stored mail when staff open
-- it and checks it against name, type and size. Rows written before keep their content, which
-- is served as it is.
ALTER TABLE attachments ADD COLUMN ord integer;
UPDATE attachments a SET ord = n.ord
FROM (SELECT id, row_number() OVER (PARTITION BY message_id ORDER BY id) AS ord
      FROM attachments) n
WHERE a.id = n.id;
ALTER TABLE attachments ALTER COLUMN ord SET NOT NULL;
