-- Retention, part 2: what counts as "purged" (see src/store/purge.rs).
-- The outbox rows of a case (purge removes them; the check below looks for them).
CREATE INDEX outbox_case ON outbox (case_id) WHERE case_id IS NOT NULL;

-- Whether a case still holds personal data: the test for "purged", rather than purged_at
-- alone, because a purged case can take in new mail (a late follow-up that reopens it), and
-- that mail must go too when the case ends again.
CREATE FUNCTION case_has_personal_data(case_id bigint) RETURNS boolean
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
$$;
