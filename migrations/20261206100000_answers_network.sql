-- Answers captured from the office's sent mail, clarification work (contacts with outside
-- bodies, whether the Ombudsstelle contributed) and network work.
ALTER TABLE cases
    ADD COLUMN interim_reply_on date,
    -- where answered_on came from: captured from the answers folders, or typed by staff
    ADD COLUMN answered_source  text CHECK (answered_source IN ('mailbox', 'typed')),
    -- whether the Ombudsstelle contributed substantially to clarifying the matter (NULL: not said)
    ADD COLUMN contributed      boolean;

ALTER TABLE messages
    ADD COLUMN direction text NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out'));
ALTER TABLE messages DROP CONSTRAINT messages_role_check;
ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN
    ('initial', 'followup', 'auto_reply', 'bounce', 'answer', 'interim_reply', 'contact', 'internal'));
-- a sent mail is recorded once per case, however often its folder is rescanned
CREATE UNIQUE INDEX messages_out_once ON messages (case_id, content_hash) WHERE direction = 'out';

-- Per answers folder (read-only): the UIDVALIDITY and the highest UID seen.
CREATE TABLE answer_folders (
    folder      text PRIMARY KEY,
    uidvalidity bigint NOT NULL,
    last_uid    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The Ombudsstelle contacted an outside body (rules/stellen.toml) to clarify a case.
CREATE TABLE case_contacts (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    stelle      text NOT NULL CHECK (stelle <> ''),
    on_date     date NOT NULL,
    source      text NOT NULL CHECK (source IN ('staff', 'mailbox')),
    message_id  bigint UNIQUE REFERENCES messages (id) ON DELETE SET NULL,
    note        text,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_contacts_case ON case_contacts (case_id);

-- Network work: presentations, network meetings, working groups. Organisations only, never persons.
CREATE TABLE network_appointments (
    id            bigserial PRIMARY KEY,
    on_date       date NOT NULL,
    kind          text NOT NULL
                  CHECK (kind IN ('vorstellung', 'netzwerktreffen', 'fachgruppe', 'besuch', 'sonstiges')),
    organisations text[] NOT NULL CHECK (cardinality(organisations) > 0),
    invited       boolean NOT NULL DEFAULT false,
    note          text,
    actor         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX network_appointments_date ON network_appointments (on_date);
