-- A one-time password set by an admin in the desk (account added or password reset) must be
-- changed by its user at the next login before any other page opens.
ALTER TABLE accounts ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
