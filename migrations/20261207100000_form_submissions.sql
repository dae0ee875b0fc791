-- Desk forms that create something are sent once (session 11, found by an outside try: a form
-- sent twice made two cases, two notes, two contacts, and the report counted them). Every case
-- form carries a random token; the first request with it claims the row, a repeat finds it and
-- is answered with the result of the first. Rows are forgotten after a day.
CREATE TABLE form_submissions (
    token       text PRIMARY KEY,
    case_number text,
    at          timestamptz NOT NULL DEFAULT now()
);
