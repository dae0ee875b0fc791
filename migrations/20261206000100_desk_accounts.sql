-- The staff desk (krm-intake web): accounts, server-side sessions, the security log and the
-- access log. A session row holds only the SHA-256 of its token, never the token itself;
-- passwords are stored as argon2id PHC strings.
CREATE TABLE accounts (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name <> ''),
    role                text NOT NULL
                        CHECK (role IN ('sachbearbeitung', 'leitung', 'admin', 'datenschutz')),
    -- the assignee name of [staff] this account works as ("mir zugewiesen")
    staff_name          text,
    password_hash       text NOT NULL,
    disabled            boolean NOT NULL DEFAULT false,
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE web_sessions (
    token_hash    text PRIMARY KEY,              -- hex SHA-256 of the cookie's token
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    csrf          text NOT NULL,                 -- the session's CSRF token (form field)
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL           -- absolute end (session_max_hours)
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

-- Logins (success, failure, lockout), logouts and account changes. `account` is the account
-- concerned (for a failed login: the name as typed); `actor` who did it (web:<account> or the
-- OS user of a `user` command).
CREATE TABLE security_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    event    text NOT NULL,
    account  text,
    actor    text NOT NULL,
    detail   text
);
CREATE INDEX security_log_at ON security_log (at);

-- Who read a case's social data (mail content) and when, apart from the case's timeline.
CREATE TABLE access_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    case_id      bigint REFERENCES cases (id) ON DELETE SET NULL,
    case_number  text NOT NULL,
    what         text NOT NULL
);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_case ON access_log (case_number);
