//! The writes of one batch (see `store::batch`), held back in memory and sent to the database in one
//! statement (cases, their mails and attachments, events, outbox rows and the case-number
//! counters together) when the batch ends, or earlier, before intake reads anything the held
//! writes could change. Ids come from the tables' own sequences, reserved ahead; case numbers
//! come from the year's counter row, which stays locked by this transaction until it commits,
//! so numbers stay gapless and in order (a batch recorded ahead counts on from a value read
//! without the lock, which its settle then locks and checks, see `store::batch`).
//!
//! Everything here belongs to one transaction. If it (or a savepoint around a flush) is rolled
//! back, [`Pending::discard`] forgets the held rows and the counters read so far.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::collections::{BTreeMap, VecDeque};

use sqlx::PgConnection;

use super::cases::{Event, NewCase, Origin};
use super::{opt_text, text, Result, StoreError};
use crate::domain::{AckStatus, Address, CaseNumber, MessageRole, OutboxKind, ReviewReason};
use crate::message::{Attachment, ParsedMail};

/// A new case's row: `intake_case` (migration `intake_row_types`), field for field.
#[derive(Debug, sqlx::Type)]
#[sqlx(type_name = "intake_case")]
struct CaseOut {
    id: i64,
    number: String,
    year: i32,
    seq: i32,
    channel: String,
    received_at: DateTime<Utc>,
    suggested_kind: Option<String>,
    suggested_topics: Vec<String>,
    kind: Option<String>,
    organisation: Option<String>,
    category: Option<String>,
    third_party: bool,
    rule_id: Option<String>,
    ruleset_version: Option<String>,
    rule_evidence: Option<serde_json::Value>,
    review_reason: Option<ReviewReason>,
    possible_duplicate_of: Option<i64>,
    ack_due: NaiveDate,
    due_unshifted: NaiveDate,
    due: NaiveDate,
    ack_status: AckStatus,
    ack_detail: Option<String>,
}

/// A stored mail's row: `intake_message`, field for field. `raw` is `None` for a mail streamed
/// after the statement (see [`stream_big`]).
#[derive(Debug, sqlx::Encode)]
struct MessageOut<'a> {
    id: i64,
    case_id: i64,
    role: MessageRole,
    message_id: Option<String>,
    content_hash: String,
    channel: String,
    uidvalidity: Option<i64>,
    uid: Option<i64>,
    received_at: DateTime<Utc>,
    date_header: Option<DateTime<Utc>>,
    date_raw: Option<String>,
    from_addr: Option<String>,
    from_name: Option<String>,
    reply_to: Vec<String>,
    to_addrs: Vec<String>,
    cc_addrs: Vec<String>,
    subject: Option<String>,
    in_reply_to: Vec<String>,
    refs: Vec<String>,
    auto_class: &'static str,
    text_body: String,
    raw: Option<&'a [u8]>,
    size: i32,
    has_html: bool,
}

impl sqlx::Type<sqlx::Postgres> for MessageOut<'_> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_name("intake_message")
    }
}

impl sqlx::postgres::PgHasArrayType for MessageOut<'_> {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::array_of("intake_message")
    }
}

/// An event's row: `intake_event`, field for field.
#[derive(Debug, sqlx::Type)]
#[sqlx(type_name = "intake_event")]
struct EventOut {
    case_id: i64,
    actor: String,
    stated_by: Option<String>,
    action: String,
    old_value: Option<String>,
    new_value: Option<String>,
    detail: Option<String>,
}

/// An outbox row: `intake_outbox`, field for field.
#[derive(Debug, sqlx::Type)]
#[sqlx(type_name = "intake_outbox")]
struct OutboxOut {
    id: i64,
    kind: OutboxKind,
    case_id: Option<i64>,
    recipient: String,
    message_id: String,
    dedupe_key: Option<String>,
    raw: Vec<u8>,
}

/// A row for the outbox, held until the flush.
pub struct HeldOutbox {
    pub id: i64,
    pub kind: OutboxKind,
    pub case_id: Option<i64>,
    pub recipient: String,
    pub message_id: String,
    pub dedupe_key: Option<String>,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    last: i32,
    dirty: bool,
}

/// An attachment held for writing: the row id of its mail, its place among the mail's
/// attachments (from 1) and its name, type, size and hash. Its content is not written: it is
/// decoded from the stored mail when staff open it (see `message::attachment_of_raw`).
type HeldAttachment<'x> = (i64, i32, &'x Attachment);

/// Held writes of one transaction; see the module documentation.
#[derive(Default)]
pub struct Pending<'a> {
    counters: BTreeMap<i32, Counter>,
    case_ids: VecDeque<i64>,
    message_ids: VecDeque<i64>,
    cases: Vec<CaseOut>,
    messages: Vec<MessageOut<'a>>,
    attachments: Vec<HeldAttachment<'a>>,
    events: Vec<EventOut>,
    outbox: Vec<OutboxOut>,
    /// Recorded ahead (see `store::batch`): nothing may be read from or written to the
    /// database; what would need it fails with [`StoreError::NotAhead`].
    pub(super) ahead: bool,
}

impl<'a> Pending<'a> {
    /// Reserves ids for up to `n` new cases and `n` stored mails, and returns `acks` (at most
    /// `n`) reserved outbox ids, in one statement.
    pub async fn reserve(
        &mut self,
        conn: &mut PgConnection,
        n: usize,
        acks: usize,
    ) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        // `CASE` evaluates `nextval` only for the rows it takes.
        let ids: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT nextval('cases_id_seq'), nextval('messages_id_seq'),
                    CASE WHEN g <= $2 THEN nextval('outbox_id_seq') END
             FROM generate_series(1, $1) AS g",
        )
        .bind(n as i32)
        .bind(acks.min(n) as i32)
        .fetch_all(&mut *conn)
        .await?;
        let mut outbox = Vec::with_capacity(acks);
        for (c, m, o) in ids {
            self.case_ids.push_back(c);
            self.message_ids.push_back(m);
            outbox.extend(o);
        }
        Ok(outbox)
    }

    /// Counts on from `last` for `year` (read by the caller) instead of locking the counter:
    /// for a batch recorded ahead, whose [`BatchWriter::settle`] locks and checks it later.
    ///
    /// [`BatchWriter::settle`]: super::batch::BatchWriter::settle
    pub(super) fn count_from(&mut self, year: i32, last: i32) {
        self.counters.insert(year, Counter { last, dirty: false });
    }

    /// The last number given out per year (held or written).
    pub(super) fn counters(&self) -> impl Iterator<Item = (i32, i32)> + '_ {
        self.counters.iter().map(|(y, c)| (*y, c.last))
    }

    /// The held mails' row ids.
    pub(super) fn message_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.messages.iter().map(|m| m.id)
    }

    /// The held new cases: number and id.
    pub(super) fn new_cases(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.cases.iter().map(|c| (c.number.as_str(), c.id))
    }

    /// The recipients of the held acknowledgements, one entry per acknowledgement.
    pub(super) fn ack_recipients(&self) -> impl Iterator<Item = &str> + '_ {
        self.outbox
            .iter()
            .filter(|o| o.kind == OutboxKind::Ack)
            .map(|o| o.recipient.as_str())
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
            && self.messages.is_empty()
            && self.events.is_empty()
            && self.outbox.is_empty()
            && !self.counters.values().any(|c| c.dirty)
    }

    /// Forgets the held rows and every counter value read: after a rollback none of them holds.
    /// Reserved ids stay usable (a rolled-back `nextval` is not given out again).
    pub fn discard(&mut self) {
        self.counters.clear();
        self.cases.clear();
        self.messages.clear();
        self.attachments.clear();
        self.events.clear();
        self.outbox.clear();
    }

    async fn next_case_id(&mut self, conn: &mut PgConnection) -> Result<i64> {
        if self.ahead && self.case_ids.is_empty() {
            return Err(StoreError::NotAhead);
        }
        next_id(&mut self.case_ids, conn, "SELECT nextval('cases_id_seq')").await
    }

    async fn next_message_id(&mut self, conn: &mut PgConnection) -> Result<i64> {
        if self.ahead && self.message_ids.is_empty() {
            return Err(StoreError::NotAhead);
        }
        next_id(
            &mut self.message_ids,
            conn,
            "SELECT nextval('messages_id_seq')",
        )
        .await
    }

    /// The next gapless number of `year`. The first call per year locks the year's counter row
    /// (creating it at 0) until the transaction ends; later ones count in memory.
    async fn next_number(&mut self, conn: &mut PgConnection, year: i32) -> Result<i32> {
        let c = match self.counters.entry(year) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(_) if self.ahead => {
                return Err(StoreError::NotAhead)
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                let (last,): (i32,) = sqlx::query_as(
                    "INSERT INTO case_number_seq (year, last) VALUES ($1, 0)
                     ON CONFLICT (year) DO UPDATE SET last = case_number_seq.last
                     RETURNING last",
                )
                .bind(year)
                .fetch_one(&mut *conn)
                .await?;
                e.insert(Counter { last, dirty: false })
            }
        };
        c.last += 1;
        c.dirty = true;
        Ok(c.last)
    }

    /// A new case; returns its id and its number. `conn` is only used to lock the year's
    /// counter the first time and when the reserved ids run out. The number is formatted here
    /// only, by [`CaseNumber`].
    pub async fn new_case(
        &mut self,
        conn: &mut PgConnection,
        c: &NewCase,
        year: i32,
    ) -> Result<(i64, CaseNumber)> {
        let seq = self.next_number(conn, year).await?;
        let id = self.next_case_id(conn).await?;
        let number = CaseNumber::new(year, seq as u32);
        self.cases.push(CaseOut {
            id,
            number: number.to_string(),
            year,
            seq,
            channel: text(&c.channel),
            received_at: c.received_at,
            suggested_kind: c.suggested_kind.clone(),
            suggested_topics: c.suggested_topics.clone(),
            kind: c.kind.clone(),
            organisation: opt_text(c.organisation.as_deref()),
            category: c.category.clone(),
            third_party: c.third_party,
            rule_id: c.rule_id.clone(),
            ruleset_version: c.ruleset_version.clone(),
            rule_evidence: c.rule_evidence.clone(),
            review_reason: c.review_reason,
            possible_duplicate_of: c.possible_duplicate_of,
            ack_due: c.ack_due,
            due_unshifted: c.due_unshifted,
            due: c.due,
            ack_status: c.ack_status,
            ack_detail: opt_text(c.ack_detail.as_deref()),
        });
        Ok((id, number))
    }

    /// A mail stored with a case (new or existing); returns the mail's row id.
    #[allow(clippy::too_many_arguments)]
    pub async fn message(
        &mut self,
        conn: &mut PgConnection,
        case_id: i64,
        role: MessageRole,
        origin: &Origin<'_>,
        mail: &ParsedMail,
        raw: &'a [u8],
        attachments: &'a [Attachment],
    ) -> Result<i64> {
        let id = self.next_message_id(conn).await?;
        let addrs = |v: &[Address]| -> Vec<String> { v.iter().map(|a| text(&a.addr)).collect() };
        self.messages.push(MessageOut {
            id,
            case_id,
            role,
            message_id: opt_text(mail.message_id.as_deref()),
            content_hash: text(&mail.content_hash),
            channel: text(origin.channel),
            uidvalidity: origin.uidvalidity,
            uid: origin.uid,
            received_at: origin.received_at,
            // PostgreSQL's text input takes years 1 to 9999 only (a Date header can say more).
            date_header: mail
                .date
                .map(|d| d.with_timezone(&Utc))
                .filter(|d| (1..=9999).contains(&d.year())),
            date_raw: opt_text(mail.date_raw.as_deref()),
            from_addr: mail.from.as_ref().map(|a| text(&a.addr)),
            from_name: mail.from.as_ref().and_then(|a| opt_text(a.name.as_deref())),
            reply_to: addrs(&mail.reply_to),
            to_addrs: addrs(&mail.to),
            cc_addrs: addrs(&mail.cc),
            subject: opt_text(mail.subject.as_deref()),
            in_reply_to: mail.in_reply_to.iter().map(|s| text(s)).collect(),
            refs: mail.references.iter().map(|s| text(s)).collect(),
            auto_class: mail.auto.as_str(),
            text_body: text(&mail.text),
            raw: Some(raw),
            size: raw.len() as i32,
            has_html: mail.has_html,
        });
        self.attachments.extend(
            attachments
                .iter()
                .enumerate()
                .map(|(i, a)| (id, i as i32 + 1, a)),
        );
        Ok(id)
    }

    pub fn event(&mut self, case_id: i64, e: &Event<'_>) {
        self.events.push(EventOut {
            case_id,
            actor: text(e.actor),
            stated_by: opt_text(e.stated_by),
            action: text(e.action),
            old_value: opt_text(e.old_value.as_deref()),
            new_value: opt_text(e.new_value.as_deref()),
            detail: opt_text(e.detail.as_deref()),
        });
    }

    pub fn outbox(&mut self, o: HeldOutbox) {
        self.outbox.push(OutboxOut {
            id: o.id,
            kind: o.kind,
            case_id: o.case_id,
            recipient: text(&o.recipient),
            message_id: text(&o.message_id),
            dedupe_key: o.dedupe_key.as_deref().map(text),
            raw: o.raw,
        });
    }

    /// Writes everything held in one statement, then holds nothing. A data error (a row the
    /// database refuses) leaves the transaction failed, as any statement would.
    pub async fn flush(&mut self, conn: &mut PgConnection) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        if self.ahead {
            return Err(StoreError::NotAhead);
        }
        self.write(conn).await
    }

    /// Runs the batch's statement with nothing to write (see
    /// [`super::batch::BatchWriter::warm`]).
    pub(crate) async fn warm(conn: &mut PgConnection) -> Result<()> {
        Pending::default().write(conn).await
    }

    /// [`Pending::flush`]'s statement, whatever is held.
    async fn write(&mut self, conn: &mut PgConnection) -> Result<()> {
        let dirty: Vec<(i32, i32)> = self
            .counters
            .iter()
            .filter(|(_, c)| c.dirty)
            .map(|(y, c)| (*y, c.last))
            .collect();
        // Big mails' raw bytes are streamed afterwards, see `stream_big`: their rows go without.
        let mut big: Vec<(i64, &[u8])> = Vec::new();
        for m in &mut self.messages {
            if let Some(raw) = m.raw.filter(|r| r.len() > STREAM_BYTES) {
                big.push((m.id, raw));
                m.raw = None;
            }
        }
        let attachments = AttachmentColumns::of(&self.attachments);

        // This statement reads no table by a plan (only by its key checks), so its plan does not
        // depend on table sizes. Where a transaction plans each statement afresh (intake's
        // ordinary way, see `scan`) it is planned afresh too: that way is rare, and two more round
        // trips per batch to switch the planning off and on again cost more.
        // Each table's rows arrive as one binary array of its `intake_*` type (migration
        // `intake_row_types`); `WITH ORDINALITY` keeps the order they were held in.
        sqlx::query(
            "WITH s AS (
                 UPDATE case_number_seq s SET last = v.last
                 FROM unnest($1::int4[], $2::int4[]) AS v(year, last)
                 WHERE s.year = v.year),
             c AS (
                 INSERT INTO cases (id, number, year, seq, channel, received_at, suggested_kind,
                    suggested_topics, kind, organisation, category, third_party, rule_id,
                    ruleset_version, rule_evidence, review_reason, possible_duplicate_of, ack_due,
                    due_unshifted, due, ack_status, ack_detail)
                 SELECT id, number, year, seq, channel, received_at, suggested_kind,
                    suggested_topics, kind, organisation, category, third_party, rule_id,
                    ruleset_version, rule_evidence, review_reason, possible_duplicate_of, ack_due,
                    due_unshifted, due, ack_status, ack_detail
                 FROM unnest($3::intake_case[])),
             m AS (
                 INSERT INTO messages (id, case_id, role, message_id, content_hash, channel,
                    uidvalidity, uid, received_at, date_header, date_raw, from_addr, from_name,
                    reply_to, to_addrs, cc_addrs, subject, in_reply_to, refs, auto_class,
                    text_body, raw, size, has_html)
                 SELECT id, case_id, role, message_id, content_hash, channel, uidvalidity, uid,
                    received_at, date_header, date_raw, from_addr, from_name, reply_to, to_addrs,
                    cc_addrs, subject, in_reply_to, refs, auto_class, text_body, raw, size,
                    has_html
                 FROM unnest($4::intake_message[])),
             a AS (
                 INSERT INTO attachments (message_id, ord, name, content_type, size, sha256)
                 SELECT a.message_id, a.ord, a.name, a.content_type, a.size, a.sha256
                 FROM unnest($5::int8[], $6::int4[], $7::text[], $8::text[], $9::int4[],
                             $10::bytea[])
                      WITH ORDINALITY AS a(message_id, ord, name, content_type, size, sha256, n)
                 ORDER BY a.n),
             e AS (
                 INSERT INTO case_events (case_id, actor, stated_by, action, old_value, new_value,
                    detail)
                 SELECT e.case_id, e.actor, e.stated_by, e.action, e.old_value, e.new_value,
                    e.detail
                 FROM unnest($11::intake_event[]) WITH ORDINALITY AS e
                 ORDER BY e.ordinality),
             o AS (
                 INSERT INTO outbox (id, kind, case_id, recipient, message_id, dedupe_key, raw)
                 SELECT o.id, o.kind, o.case_id, o.recipient, o.message_id, o.dedupe_key, o.raw
                 FROM unnest($12::intake_outbox[]) WITH ORDINALITY AS o
                 ORDER BY o.ordinality
                 ON CONFLICT (dedupe_key) DO NOTHING)
             SELECT 1",
        )
        .bind(dirty.iter().map(|d| d.0).collect::<Vec<_>>())
        .bind(dirty.iter().map(|d| d.1).collect::<Vec<_>>())
        .bind(&self.cases)
        .bind(&self.messages)
        .bind(attachments.message_ids)
        .bind(attachments.ords)
        .bind(attachments.names)
        .bind(attachments.content_types)
        .bind(attachments.sizes)
        .bind(attachments.sha256s)
        .bind(&self.events)
        .bind(&self.outbox)
        .execute(&mut *conn)
        .await?;
        if !big.is_empty() {
            stream_big(conn, &big).await?;
        }
        let counters = std::mem::take(&mut self.counters);
        self.discard();
        // The counters stay locked by this transaction and now match the database.
        self.counters = counters
            .into_iter()
            .map(|(y, c)| (y, Counter { dirty: false, ..c }))
            .collect();
        Ok(())
    }
}

/// A reserved id, or a fresh one from the sequence when the reserved ones ran out.
async fn next_id(
    reserved: &mut VecDeque<i64>,
    conn: &mut PgConnection,
    nextval: &'static str,
) -> Result<i64> {
    if let Some(id) = reserved.pop_front() {
        return Ok(id);
    }
    let (id,): (i64,) = sqlx::query_as(nextval).fetch_one(&mut *conn).await?;
    Ok(id)
}

/// The attachments' columns, as arrays for `unnest`.
struct AttachmentColumns<'x> {
    message_ids: Vec<i64>,
    ords: Vec<i32>,
    names: Vec<Option<String>>,
    content_types: Vec<String>,
    sizes: Vec<i32>,
    sha256s: Vec<&'x [u8]>,
}

impl<'x> AttachmentColumns<'x> {
    fn of(attachments: &[HeldAttachment<'x>]) -> Self {
        AttachmentColumns {
            message_ids: attachments.iter().map(|a| a.0).collect(),
            ords: attachments.iter().map(|a| a.1).collect(),
            names: attachments
                .iter()
                .map(|a| opt_text(a.2.name.as_deref()))
                .collect(),
            content_types: attachments
                .iter()
                .map(|a| text(&a.2.content_type))
                .collect(),
            sizes: attachments.iter().map(|a| a.2.size as i32).collect(),
            sha256s: attachments.iter().map(|a| a.2.sha256.as_slice()).collect(),
        }
    }
}

/// Mails larger than this are not sent as statement parameters (which the driver would copy
/// whole, twice) but streamed with COPY in chunks; see [`stream_big`].
const STREAM_BYTES: usize = 1024 * 1024;

/// Writes the raw bytes of big mails whose rows the flush wrote without them: COPY (binary,
/// streamed in chunks) into a session-private staging table, then one UPDATE from it. Memory
/// stays at one chunk beyond the mail itself.
async fn stream_big(conn: &mut PgConnection, raws: &[(i64, &[u8])]) -> Result<()> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT to_regclass('pg_temp.krm_big_raw') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        sqlx::query(
            "CREATE TEMP TABLE krm_big_raw (id int8 NOT NULL, raw bytea NOT NULL) ON COMMIT DROP",
        )
        .execute(&mut *conn)
        .await?;
        // Staged only to be copied on: not worth compressing here.
        sqlx::query("ALTER TABLE krm_big_raw ALTER COLUMN raw SET STORAGE EXTERNAL")
            .execute(&mut *conn)
            .await?;
    }
    let mut copy = conn
        .copy_in_raw("COPY krm_big_raw (id, raw) FROM STDIN (FORMAT binary)")
        .await?;
    let mut header = b"PGCOPY\n\xff\r\n\0".to_vec();
    header.extend_from_slice(&[0u8; 8]);
    copy.send(header).await?;
    for (id, raw) in raws {
        let mut t = Vec::with_capacity(20);
        t.extend_from_slice(&2i16.to_be_bytes());
        t.extend_from_slice(&8i32.to_be_bytes());
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&(raw.len() as i32).to_be_bytes());
        copy.send(t).await?;
        copy.send(*raw).await?;
    }
    copy.send((-1i16).to_be_bytes().to_vec()).await?;
    copy.finish().await?;
    sqlx::query("UPDATE messages m SET raw = s.raw FROM krm_big_raw s WHERE m.id = s.id")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM krm_big_raw")
        .execute(&mut *conn)
        .await?;
    Ok(())
}
