-- Optimistic locking for the desk: every change of a case row bumps its version, so a form
-- posted with the version it was rendered from is refused when someone else (staff, the
-- daemon, the outbox) changed the case in between.
ALTER TABLE cases ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION cases_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER cases_version BEFORE UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_bump_version();
