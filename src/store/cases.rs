//! Cases, their messages and attachments, and the audit log (`case_events`).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::{opt_text, text, Result};
use crate::domain::{AckStatus, CaseStatus, ReviewReason};
use crate::message::ParsedMail;

/// Actor name the daemon writes into the audit log.
pub const DAEMON: &str = "krm-intake";

#[derive(Debug, Clone)]
pub struct NewCase {
    pub channel: String,
    pub received_at: DateTime<Utc>,
    pub suggested_kind: Option<String>,
    pub suggested_topics: Vec<String>,
    pub kind: Option<String>,
    pub organisation: Option<String>,
    pub category: Option<String>,
    pub third_party: bool,
    pub rule_id: Option<String>,
    pub ruleset_version: Option<String>,
    pub rule_evidence: Option<serde_json::Value>,
    pub review_reason: Option<ReviewReason>,
    pub possible_duplicate_of: Option<i64>,
    pub ack_due: NaiveDate,
    pub due_unshifted: NaiveDate,
    pub due: NaiveDate,
    pub ack_status: AckStatus,
    pub ack_detail: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub number: String,
    pub channel: String,
    pub received_at: DateTime<Utc>,
    pub status: CaseStatus,
    pub suggested_kind: Option<String>,
    pub suggested_topics: Vec<String>,
    pub kind: Option<String>,
    pub topics: Vec<String>,
    pub justified: Option<bool>,
    pub organisation: Option<String>,
    pub category: Option<String>,
    pub third_party: bool,
    pub rule_id: Option<String>,
    pub ruleset_version: Option<String>,
    pub rule_evidence: Option<serde_json::Value>,
    pub assignee: Option<String>,
    pub review_reason: Option<ReviewReason>,
    pub possible_duplicate_of: Option<i64>,
    pub ack_due: NaiveDate,
    pub due_unshifted: NaiveDate,
    pub due: NaiveDate,
    pub hold_since: Option<DateTime<Utc>>,
    pub held_days: i32,
    pub ack_status: AckStatus,
    pub ack_sent_at: Option<DateTime<Utc>>,
    pub ack_detail: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub answered_on: Option<NaiveDate>,
    /// Where `answered_on` came from: `mailbox` (captured from sent mail) or `typed`.
    pub answered_source: Option<String>,
    /// The first interim reply captured from sent mail.
    pub interim_reply_on: Option<NaiveDate>,
    pub discard_reason: Option<String>,
    pub merged_into: Option<i64>,
    pub purged_at: Option<DateTime<Utc>>,
    /// Message-ID of the first mail of the case (with angle brackets), if any.
    pub first_message_id: Option<String>,
}

/// Column list for [`CaseRow`]; keep in step with the struct. The first mail's subquery is fenced with `OFFSET 0`
/// (see [`lookup_identities`]).
pub const CASE_COLUMNS: &str = "c.id, c.number, c.channel, c.received_at, c.status, c.suggested_kind, \
    c.suggested_topics, c.kind, c.topics, c.justified, c.organisation, c.category, c.third_party, \
    c.rule_id, c.ruleset_version, c.rule_evidence, c.assignee, c.review_reason, \
    c.possible_duplicate_of, c.ack_due, c.due_unshifted, c.due, c.hold_since, c.held_days, \
    c.ack_status, c.ack_sent_at, c.ack_detail, c.closed_at, c.answered_on, c.answered_source, c.interim_reply_on, c.discard_reason, \
    c.merged_into, c.purged_at, \
    (SELECT f.message_id FROM (SELECT m.id, m.message_id FROM messages m WHERE m.case_id = c.id OFFSET 0) f \
     ORDER BY f.id LIMIT 1) AS first_message_id";

/// Where a stored mail came from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub channel: &'a str,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub received_at: DateTime<Utc>,
}

/// All attachments of a stored mail in one statement (sent mail captured from the answers
/// folders; intake's mails go through `store::batch`).
pub(super) async fn insert_attachments(
    conn: &mut PgConnection,
    message_id: i64,
    mail: &ParsedMail,
) -> Result<()> {
    if mail.attachments.is_empty() {
        return Ok(());
    }
    let a = &mail.attachments;
    sqlx::query(
        "INSERT INTO attachments (message_id, ord, name, content_type, size, sha256)
         SELECT $1, a.ord, a.name, a.content_type, a.size, a.sha256
         FROM unnest($2::text[], $3::text[], $4::int4[], $5::bytea[]) WITH ORDINALITY
              AS a(name, content_type, size, sha256, ord)
         ORDER BY a.ord",
    )
    .bind(message_id)
    .bind(
        a.iter()
            .map(|x| opt_text(x.name.as_deref()))
            .collect::<Vec<_>>(),
    )
    .bind(a.iter().map(|x| text(&x.content_type)).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.size as i32).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.sha256.as_slice()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the store knows of a mail's Message-ID: the case that already holds this exact mail
/// (same Message-ID and content hash), and else the earliest case holding another mail with the
/// same Message-ID (a sender reusing ids). One query for both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub identical: Option<(i64, String)>,
    pub same_message_id: Option<i64>,
}

pub async fn lookup_identity(
    conn: &mut PgConnection,
    message_id: Option<&str>,
    content_hash: &str,
) -> Result<Known> {
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT c.id, c.number, m.content_hash = $2
         FROM messages m JOIN cases c ON c.id = m.case_id
         WHERE coalesce(m.message_id, '') = coalesce($1, '')
           AND ($1 IS NOT NULL OR m.content_hash = $2)
         ORDER BY (m.content_hash = $2) DESC, m.id
         LIMIT 1",
    )
    .bind(message_id)
    .bind(content_hash)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some((id, number, true)) => Known {
            identical: Some((id, number)),
            same_message_id: None,
        },
        Some((id, _, false)) => Known {
            identical: None,
            same_message_id: Some(id),
        },
        None => Known::default(),
    })
}

/// What the store knows of one mail of a batch, as [`lookup_identity`] would answer it:
/// the case holding the identical mail, and the case of the earliest mail with the same
/// Message-ID (whatever its content; `None` when the mail has no Message-ID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownIdentity {
    pub identical: Option<(i64, String)>,
    pub first_with_message_id: Option<i64>,
}

/// [`KnownIdentity`] for each `(Message-ID, content hash)` pair, in input order, in one query.
///
/// `OFFSET 0` keeps the "earliest mail" subqueries planned on their own: without it, a planner
/// without statistics yet (tables that grew within minutes, as in a backlog) walks the primary
/// key in id order and filters every mail, which grows with the table.
pub async fn lookup_identities(
    conn: &mut PgConnection,
    keys: &[(Option<&str>, &str)],
) -> Result<Vec<KnownIdentity>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Option<i64>, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT i.id, i.number, f.case_id
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(mid, hash, ord)
         LEFT JOIN LATERAL (
             SELECT c.id, c.number
             FROM messages m JOIN cases c ON c.id = m.case_id
             WHERE coalesce(m.message_id, '') = coalesce(k.mid, '') AND m.content_hash = k.hash
             ORDER BY m.id
             LIMIT 1) i ON true
         LEFT JOIN LATERAL (
             SELECT m.case_id
             FROM (SELECT m.id, m.case_id FROM messages m
                   WHERE k.mid IS NOT NULL AND coalesce(m.message_id, '') = k.mid
                   OFFSET 0) m
             JOIN cases c ON c.id = m.case_id
             ORDER BY m.id
             LIMIT 1) f ON true
         ORDER BY k.ord",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, number, first)| KnownIdentity {
            identical: id.zip(number),
            first_with_message_id: first,
        })
        .collect())
}

/// A case referenced by any of these Message-IDs: one of its mails, or one of our own
/// outgoing mails (acknowledgements) for it.
pub async fn find_by_references(conn: &mut PgConnection, ids: &[String]) -> Result<Option<i64>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT case_id FROM (
            SELECT case_id, 0 AS pref, id FROM outbox WHERE message_id = ANY($1) AND case_id IS NOT NULL
            UNION ALL
            SELECT case_id, 1 AS pref, id FROM messages WHERE message_id = ANY($1)
         ) r ORDER BY pref, id LIMIT 1",
    )
    .bind(ids)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// What the store holds under one Message-ID that a mail refers to: our own outgoing mail
/// (outbox row id, case) and the earliest stored mail (row id, case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceHit {
    pub outbox: Option<(i64, i64)>,
    pub message: Option<(i64, i64)>,
}

/// [`ReferenceHit`] for each Message-ID, in input order, in one query; together they answer
/// [`find_by_references`] for any subset.
pub async fn lookup_references(conn: &mut PgConnection, ids: &[&str]) -> Result<Vec<ReferenceHit>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT o.id, o.case_id, m.id, m.case_id
         FROM unnest($1::text[]) WITH ORDINALITY AS k(ref, ord)
         LEFT JOIN outbox o ON o.message_id = k.ref AND o.case_id IS NOT NULL
         LEFT JOIN LATERAL (
             SELECT x.id, x.case_id
             FROM (SELECT id, case_id FROM messages WHERE message_id = k.ref OFFSET 0) x
             ORDER BY x.id
             LIMIT 1) m ON true
         ORDER BY k.ord",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(oid, ocase, mid, mcase)| ReferenceHit {
            outbox: oid.zip(ocase),
            message: mid.zip(mcase),
        })
        .collect())
}

/// Case ids by number, for the numbers that exist.
pub async fn ids_by_number(
    conn: &mut PgConnection,
    numbers: &[String],
) -> Result<Vec<(String, i64)>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as("SELECT number, id FROM cases WHERE number = ANY($1)")
        .bind(numbers)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

/// What intake needs of a case a follow-up joins.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseHead {
    pub id: i64,
    pub number: String,
    pub status: CaseStatus,
    pub merged_into: Option<i64>,
}

/// The heads of the cases `ids` that exist, in id order; locked for update in the current
/// transaction unless `lock` is false (a read-only transaction).
pub async fn heads(conn: &mut PgConnection, ids: &[i64], lock: bool) -> Result<Vec<CaseHead>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = if lock {
        "SELECT id, number, status, merged_into FROM cases WHERE id = ANY($1) ORDER BY id
         FOR UPDATE"
    } else {
        "SELECT id, number, status, merged_into FROM cases WHERE id = ANY($1) ORDER BY id"
    };
    Ok(sqlx::query_as(sql).bind(ids).fetch_all(&mut *conn).await?)
}

pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<CaseRow>> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = $1");
    let row = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row)
}

pub async fn get_by_number(conn: &mut PgConnection, number: &str) -> Result<Option<CaseRow>> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.number = $1");
    let row = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row)
}

/// Locks a case row for an update in the current transaction.
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub stated_by: Option<&'a str>,
    pub action: &'a str,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub detail: Option<String>,
}

pub async fn add_event(conn: &mut PgConnection, case_id: i64, e: &Event<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO case_events (case_id, actor, stated_by, action, old_value, new_value, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(case_id)
    .bind(text(e.actor))
    .bind(opt_text(e.stated_by))
    .bind(e.action)
    .bind(opt_text(e.old_value.as_deref()))
    .bind(opt_text(e.new_value.as_deref()))
    .bind(opt_text(e.detail.as_deref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_ack_status(
    conn: &mut PgConnection,
    case_id: i64,
    status: AckStatus,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET ack_status = $2, ack_detail = $3,
             ack_sent_at = CASE WHEN $2 = 'sent' THEN coalesce(ack_sent_at, now()) ELSE ack_sent_at END
         WHERE id = $1",
    )
    .bind(case_id)
    .bind(status)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reopens a closed case because a follow-up arrived.
pub async fn reopen(conn: &mut PgConnection, case_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET status = 'open', closed_at = NULL, answered_on = NULL, answered_source = NULL
         WHERE id = $1",
    )
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
/// Binds the 21 stored columns of a mail, from `message_id` to `has_html`, in table order.
pub(super) fn bind_mail<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    origin: &Origin<'q>,
    mail: &'q ParsedMail,
    raw: &'q [u8],
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let addrs =
        |v: &[crate::domain::Address]| -> Vec<String> { v.iter().map(|a| text(&a.addr)).collect() };
    q.bind(opt_text(mail.message_id.as_deref()))
        .bind(&mail.content_hash)
        .bind(origin.channel)
        .bind(origin.uidvalidity)
        .bind(origin.uid)
        .bind(origin.received_at)
        .bind(mail.date.map(|d| d.with_timezone(&Utc)))
        .bind(opt_text(mail.date_raw.as_deref()))
        .bind(mail.from.as_ref().map(|a| text(&a.addr)))
        .bind(mail.from.as_ref().and_then(|a| opt_text(a.name.as_deref())))
        .bind(addrs(&mail.reply_to))
        .bind(addrs(&mail.to))
        .bind(addrs(&mail.cc))
        .bind(opt_text(mail.subject.as_deref()))
        .bind(mail.in_reply_to.iter().map(|s| text(s)).collect::<Vec<_>>())
        .bind(mail.references.iter().map(|s| text(s)).collect::<Vec<_>>())
        .bind(mail.auto.as_str())
        .bind(text(&mail.text))
        .bind(raw)
        .bind(raw.len() as i32)
        .bind(mail.has_html)
}
