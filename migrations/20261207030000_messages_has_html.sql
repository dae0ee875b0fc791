-- Whether a stored mail has an HTML body, recorded at intake: the desk's case page offers the
-- HTML view by it instead of reading and parsing every mail of the case on each view. NULL for
-- mails stored before; for those the desk reads the stored mail as before. An older instance
-- keeps working (it does not write the column).
ALTER TABLE messages ADD COLUMN has_html boolean;
