-- A form's token is settled once its action is done (session 12, found by a review): a repeat
-- that arrives while the first request still runs waits for it instead of answering "schon
-- gespeichert" for an action that may yet be refused. Rows claimed before this column existed
-- were settled or released within their request.
ALTER TABLE form_submissions ADD COLUMN settled boolean NOT NULL DEFAULT true;
ALTER TABLE form_submissions ALTER COLUMN settled SET DEFAULT false;
