-- Clarification work and retention. A purge keeps the case row as an anonymous statistics record
-- (src/store/purge.rs), and with it the contacts' body, date and source (the report counts them);
-- the free-text note of a contact may name a person, so it goes, and a case whose contacts still
-- carry a note holds personal data. Should a case row ever be deleted, its contacts go with it.
ALTER TABLE case_contacts
    DROP CONSTRAINT case_contacts_case_id_fkey,
    ADD CONSTRAINT case_contacts_case_id_fkey
        FOREIGN KEY (case_id) REFERENCES cases (id) ON DELETE CASCADE;

CREATE OR REPLACE FUNCTION case_has_personal_data(case_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM messages m WHERE m.case_id = $1
                     AND (m.raw IS NOT NULL OR m.text_body IS NOT NULL OR m.from_addr IS NOT NULL
                          OR m.from_name IS NOT NULL OR m.subject IS NOT NULL
                          OR cardinality(m.reply_to) > 0 OR cardinality(m.to_addrs) > 0
                          OR cardinality(m.cc_addrs) > 0))
        OR EXISTS (SELECT 1 FROM attachments a JOIN messages m ON m.id = a.message_id
                     WHERE m.case_id = $1)
        OR EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = $1 AND e.action <> 'purged'
                     AND (e.old_value IS NOT NULL OR e.new_value IS NOT NULL
                          OR e.detail IS NOT NULL OR e.stated_by IS NOT NULL))
        OR EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = $1)
        OR EXISTS (SELECT 1 FROM cases c WHERE c.id = $1
                     AND (c.rule_evidence IS NOT NULL OR c.ack_detail IS NOT NULL
                          OR c.discard_reason IS NOT NULL OR c.assignee IS NOT NULL))
        OR EXISTS (SELECT 1 FROM case_contacts k WHERE k.case_id = $1 AND k.note IS NOT NULL)
$$;
