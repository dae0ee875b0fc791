//! One intake batch's view of the store: the lookups the batch needs, fetched ahead in a few
//! queries and then kept exact in memory, and the batch's writes ([`Pending`]), held until
//! [`BatchWriter::flush`]. Intake asks and writes only through a `BatchWriter`; `case new`
//! writes its case through one as well, so a case is created in exactly one way.
//!
//! Everything here belongs to one transaction and is valid only while no savepoint is rolled
//! back ([`BatchWriter::discard`] forgets what was held). [`BatchWriter::default`] asks the store
//! for every answer; [`BatchWriter::read_only`] does the same without locking rows (`explain
//! --db`, inside a read-only transaction).
//!
//! **Recorded ahead** ([`BatchWriter::ahead`]): intake records a batch while the batch before it
//! is still being written and committed on another connection. Its lookups run in a read-only
//! snapshot without locks; what the batch before will write, it takes from that batch's
//! [`Predecessor`] (its held rows, from memory); every question only the database could answer
//! fails with [`StoreError::NotAhead`], and the caller records the batch again the ordinary way.
//! Once the batch before has committed as it was recorded, [`BatchWriter::settle`] locks the
//! counters and the cases the batch relied on in the batch's own transaction and checks they are
//! as they were read; only then are its rows written.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::cases::{self, CaseHead, CaseRow, Event, NewCase, Origin};
pub use super::pending::HeldOutbox;
use super::pending::Pending;
use super::{outbox, text, Result, StoreError};
use crate::domain::{CaseNumber, CaseStatus, MessageRole};
use crate::message::{Attachment, ParsedMail};

/// What a mail of the batch will ask the store, read from the mail by the caller.
#[derive(Debug, Clone, Default)]
pub struct MailKeys<'m> {
    pub message_id: Option<&'m str>,
    pub content_hash: &'m str,
    /// Normalised address an acknowledgement would go to.
    pub ack_to: Option<String>,
    /// True when an acknowledgement may be written for it (a person wrote it, it has a
    /// recipient): an outbox id is reserved for it.
    pub may_ack: bool,
    /// The Message-IDs it refers to (In-Reply-To, References; not its own).
    pub references: Vec<String>,
    /// A case number in its subject.
    pub case_number: Option<String>,
}

/// See the module documentation.
#[derive(Default)]
pub struct BatchWriter<'a> {
    /// Never lock: the caller's transaction is read-only.
    read_only: bool,
    /// Identity key (`coalesce(Message-ID, '')`, content hash) -> case holding that mail.
    identical: HashMap<(String, String), (i64, String)>,
    /// Identity keys whose answer is complete here (prefetched, then kept up to date).
    identities_known: HashSet<(String, String)>,
    /// `coalesce(Message-ID, '')` -> case of the earliest mail with it.
    first_case: HashMap<String, i64>,
    /// Message-IDs whose `first_case` answer is complete here.
    first_known: HashSet<String>,
    /// Acknowledgements in the last hour per normalised address.
    acks: HashMap<String, i64>,
    outbox_ids: VecDeque<i64>,
    /// Message-IDs referred to by the batch's mails -> our outbox row (id, case) carrying it.
    ref_outbox: HashMap<String, (i64, i64)>,
    /// Message-IDs referred to -> the earliest stored mail (id, case) with it.
    ref_message: HashMap<String, (i64, i64)>,
    /// References whose answer is complete here: every reference of the batch's mails, so a
    /// mail of the batch referring to another one is answered here too.
    refs_known: HashSet<String>,
    /// Case numbers named in subjects (and this batch's new cases) -> case id.
    numbers: HashMap<String, i64>,
    numbers_known: HashSet<String>,
    /// This batch's own outbox rows and stored mails by Message-ID -> (row id, case); later in the
    /// table than anything prefetched, as their ids are.
    own_outbox: HashMap<String, (i64, i64)>,
    own_messages: HashMap<String, (i64, i64)>,
    /// The identity keys of this batch's stored mails.
    own_keys: Vec<(String, String)>,
    /// Cases follow-ups may join (those the prefetched references and numbers name, and this
    /// batch's new ones), locked by this transaction and kept exact in memory.
    heads: HashMap<i64, CaseHead>,
    /// Recorded ahead: the heads read without a lock (from the snapshot or the batch before) and
    /// the counter values counted from, which [`BatchWriter::settle`] checks under lock.
    ahead: Option<Unlocked>,
    pending: Pending<'a>,
}

/// What a batch recorded ahead read without locking it.
#[derive(Default)]
struct Unlocked {
    heads: Vec<CaseHead>,
    counters: Vec<(i32, i32)>,
}

/// What a batch recorded ahead will write, for the batch after it (see the module
/// documentation): only its own rows.
#[derive(Debug, Default)]
pub struct Predecessor {
    /// The row ids of its mails: whether a snapshot already sees them.
    message_ids: Vec<i64>,
    identical: HashMap<(String, String), (i64, String)>,
    first_case: HashMap<String, i64>,
    outbox: HashMap<String, (i64, i64)>,
    messages: HashMap<String, (i64, i64)>,
    numbers: HashMap<String, i64>,
    /// The heads of its new cases and of the cases its mails joined (it never changes a head:
    /// a reopen is not recorded ahead).
    heads: HashMap<i64, CaseHead>,
    acks: HashMap<String, i64>,
    counters: Vec<(i32, i32)>,
}
fn identity_key(message_id: Option<&str>, content_hash: &str) -> (String, String) {
    (
        text(message_id.unwrap_or_default()),
        content_hash.to_string(),
    )
}

/// Sorted, without duplicates and without values PostgreSQL refuses (a NUL byte): a mail with
/// such a value asks on its own and gets quarantined by its own data error.
fn sorted_keys(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = keys.filter(|k| !k.contains('\0')).collect();
    v.sort();
    v.dedup();
    v
}

impl<'a> BatchWriter<'a> {
    /// Asks the store for every answer and never locks a row (for a read-only transaction).
    pub fn read_only() -> Self {
        BatchWriter {
            read_only: true,
            ..BatchWriter::default()
        }
    }

    /// One query each for the identities, the rate-cap counts, the outbox ids, the references
    /// and the case numbers of the batch's mails, and the ids of its new rows.
    pub async fn prefetch(
        conn: &mut PgConnection,
        mails: &[MailKeys<'_>],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let mut b = BatchWriter::reserved(conn, mails).await?;
        b.lookups(conn, mails, now, true).await?;
        Ok(b)
    }

    /// Runs the statements a batch runs, for one mail nothing in the database matches and
    /// with no row written, inside a transaction it rolls back: a connection that has done so
    /// records its first batch as fast as its later ones (its statements are prepared, the
    /// tables and indexes known to its server process). Nothing is counted, locked or kept.
    pub async fn warm(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<()> {
        let keys = [MailKeys {
            message_id: Some("<warm-up@krm-intake.invalid>"),
            content_hash: "warm-up",
            ack_to: Some("warm-up@krm-intake.invalid".to_string()),
            may_ack: false,
            references: vec!["<warm-up@krm-intake.invalid>".to_string()],
            case_number: Some("KRM-0000-00000".to_string()),
        }];
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut b = BatchWriter::default();
        b.lookups(&mut tx, &keys, now, true).await?;
        Pending::warm(&mut tx).await?;
        tx.rollback().await?;
        Ok(())
    }

    /// A writer with the ids of the batch's new rows reserved (outside any transaction, for
    /// a batch recorded ahead: `nextval` is refused in a read-only one).
    pub async fn reserved(conn: &mut PgConnection, mails: &[MailKeys<'_>]) -> Result<Self> {
        let mut b = BatchWriter::default();
        let acks_possible = mails.iter().filter(|m| m.may_ack).count();
        b.outbox_ids = b
            .pending
            .reserve(conn, mails.len(), acks_possible)
            .await?
            .into();
        Ok(b)
    }

    /// Records the batch ahead (see the module documentation): in the caller's read-only
    /// snapshot (`REPEATABLE READ`, begun right before), which may or may not see `before`'s
    /// rows yet; counts numbers on for `years` from the snapshot or from `before`. Returns
    /// whether `before`'s rows were taken from memory (then this batch holds only if `before`
    /// commits as recorded).
    pub async fn ahead(
        &mut self,
        conn: &mut PgConnection,
        mails: &[MailKeys<'_>],
        now: DateTime<Utc>,
        years: &[i32],
        before: Option<&Predecessor>,
    ) -> Result<bool> {
        // The snapshot's first statement: whether it was taken after `before` committed (a
        // predecessor that holds no mail, all seen again, is taken as not seen: this batch then
        // still holds only if that one commits as recorded), and the counters of `years`.
        let (seen, counted_years, counted_last): (i64, Vec<i32>, Vec<i32>) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM messages WHERE id = ANY($1)),
                    coalesce(array_agg(year ORDER BY year), '{}'),
                    coalesce(array_agg(last ORDER BY year), '{}')
             FROM case_number_seq WHERE year = ANY($2)",
        )
        .bind(before.map(|p| p.message_ids.as_slice()).unwrap_or_default())
        .bind(years)
        .fetch_one(&mut *conn)
        .await?;
        let before = match before {
            Some(p) if seen == 0 => Some(p),
            Some(p) if seen as usize == p.message_ids.len() => None,
            // Cannot be (a commit is whole): not recorded ahead.
            Some(_) => return Err(StoreError::NotAhead),
            None => None,
        };
        self.lookups(conn, mails, now, false).await?;
        if let Some(p) = before {
            self.take_predecessor(p);
        }
        let mut counters: BTreeMap<i32, i32> = years.iter().map(|y| (*y, 0)).collect();
        counters.extend(counted_years.into_iter().zip(counted_last));
        if let Some(p) = before {
            counters.extend(
                p.counters
                    .iter()
                    .copied()
                    .filter(|(y, _)| years.contains(y)),
            );
        }
        for (year, last) in &counters {
            self.pending.count_from(*year, *last);
        }
        let mut heads: Vec<CaseHead> = self.heads.values().cloned().collect();
        heads.sort_by_key(|h| h.id);
        self.ahead = Some(Unlocked {
            heads,
            counters: counters.into_iter().collect(),
        });
        self.pending.ahead = true;
        Ok(before.is_some())
    }

    /// The answers about the rows `p` will write, added to this batch's (which the snapshot
    /// answered without them): the store's earlier rows stay first.
    fn take_predecessor(&mut self, p: &Predecessor) {
        for (key, found) in &p.identical {
            if self.identities_known.contains(key) {
                self.identical
                    .entry(key.clone())
                    .or_insert_with(|| found.clone());
            }
        }
        for (mid, case) in &p.first_case {
            if self.first_known.contains(mid) {
                self.first_case.entry(mid.clone()).or_insert(*case);
            }
        }
        for (held, into) in [
            (&p.outbox, &mut self.ref_outbox),
            (&p.messages, &mut self.ref_message),
        ] {
            for (r, hit) in held {
                if self.refs_known.contains(r) {
                    into.entry(r.clone()).or_insert(*hit);
                }
            }
        }
        for (n, id) in &p.numbers {
            if self.numbers_known.contains(n) {
                self.numbers.entry(n.clone()).or_insert(*id);
            }
        }
        // Its new cases; an existing case as this (newer) snapshot read it, if it did.
        for (id, head) in &p.heads {
            self.heads.entry(*id).or_insert_with(|| head.clone());
        }
        for (to, n) in &p.acks {
            if let Some(count) = self.acks.get_mut(to) {
                *count += n;
            }
        }
    }

    /// What this batch, recorded ahead, will write: for the batch after it.
    pub fn predecessor(&self) -> Predecessor {
        let mut acks: HashMap<String, i64> = HashMap::new();
        for to in self.pending.ack_recipients() {
            *acks.entry(to.to_string()).or_default() += 1;
        }
        let numbers: HashMap<String, i64> = self
            .pending
            .new_cases()
            .map(|(n, id)| (n.to_string(), id))
            .collect();
        Predecessor {
            message_ids: self.pending.message_ids().collect(),
            identical: self
                .own_keys
                .iter()
                .filter_map(|k| Some((k.clone(), self.identical.get(k)?.clone())))
                .collect(),
            first_case: self
                .own_messages
                .keys()
                .filter_map(|mid| Some((mid.clone(), *self.first_case.get(mid)?)))
                .collect(),
            outbox: self.own_outbox.clone(),
            messages: self.own_messages.clone(),
            // (Its acknowledgements belong to its new cases.)
            heads: (numbers.values())
                .chain(self.own_messages.values().map(|x| &x.1))
                .filter_map(|id| Some((*id, self.heads.get(id)?.clone())))
                .collect(),
            numbers,
            acks,
            counters: self.pending.counters().collect(),
        }
    }

    /// Locks the counters and cases a batch recorded ahead read without locks (in its own
    /// transaction, once the batch before has committed) and checks them: false when one has
    /// changed (a case staff created, closed or merged meanwhile); the caller then rolls back
    /// and records the batch again. On true the batch's rows can be written.
    pub async fn settle(&mut self, conn: &mut PgConnection) -> Result<bool> {
        let Some(read) = self.ahead.take() else {
            return Ok(true);
        };
        // From here on the store answers (on false the caller drops this writer).
        self.pending.ahead = false;
        let years: Vec<i32> = read.counters.iter().map(|c| c.0).collect();
        let mut locked: Vec<(i32, i32)> = sqlx::query_as(
            "INSERT INTO case_number_seq (year, last) SELECT y, 0 FROM unnest($1::int4[]) AS y
             ON CONFLICT (year) DO UPDATE SET last = case_number_seq.last
             RETURNING year, last",
        )
        .bind(&years)
        .fetch_all(&mut *conn)
        .await?;
        locked.sort_unstable();
        if locked != read.counters {
            return Ok(false);
        }
        let ids: Vec<i64> = read.heads.iter().map(|h| h.id).collect();
        let now = cases::heads(conn, &ids, true).await?;
        Ok(now.len() == read.heads.len()
            && now.iter().zip(&read.heads).all(|(a, b)| {
                a.id == b.id && a.status == b.status && a.merged_into == b.merged_into
            }))
    }

    /// Refuses, for a batch recorded ahead, what only the database could answer.
    fn needs_store(&self) -> Result<()> {
        match self.ahead {
            Some(_) => Err(StoreError::NotAhead),
            None => Ok(()),
        }
    }

    /// The batch's lookups (see [`BatchWriter::prefetch`]); the cases they name are locked when
    /// `lock` is true.
    async fn lookups(
        &mut self,
        conn: &mut PgConnection,
        mails: &[MailKeys<'_>],
        now: DateTime<Utc>,
        lock: bool,
    ) -> Result<()> {
        let b = self;
        b.prefetch_identities(conn, mails).await?;
        let recipients = sorted_keys(mails.iter().filter_map(|m| m.ack_to.clone()));
        let counts = outbox::acks_last_hour_many(conn, &recipients, now).await?;
        b.acks = recipients.into_iter().zip(counts).collect();

        // Follow-up candidates: the references and the case numbers in the subjects.
        let refs = sorted_keys(mails.iter().flat_map(|m| m.references.iter().cloned()));
        let ref_slices: Vec<&str> = refs.iter().map(String::as_str).collect();
        let hits = cases::lookup_references(conn, &ref_slices).await?;
        for (r, hit) in refs.into_iter().zip(hits) {
            if let Some(o) = hit.outbox {
                b.ref_outbox.insert(r.clone(), o);
            }
            if let Some(m) = hit.message {
                b.ref_message.insert(r.clone(), m);
            }
            b.refs_known.insert(r);
        }
        let numbers = sorted_keys(mails.iter().filter_map(|m| m.case_number.clone()));
        b.numbers = cases::ids_by_number(conn, &numbers)
            .await?
            .into_iter()
            .collect();
        b.numbers_known = numbers.into_iter().collect();
        // The cases those name, locked now in one statement (in id order) rather than one by
        // one as their follow-ups come.
        let mut ids: Vec<i64> = (b.ref_outbox.values().chain(b.ref_message.values()))
            .map(|x| x.1)
            .chain(b.numbers.values().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for head in cases::heads(conn, &ids, lock).await? {
            b.heads.insert(head.id, head);
        }
        Ok(())
    }

    async fn prefetch_identities(
        &mut self,
        conn: &mut PgConnection,
        mails: &[MailKeys<'_>],
    ) -> Result<()> {
        let keys: Vec<(Option<&str>, &str)> = mails
            .iter()
            .map(|m| (m.message_id, m.content_hash))
            .filter(|(mid, h)| !mid.is_some_and(|x| x.contains('\0')) && !h.contains('\0'))
            .collect();
        let known = cases::lookup_identities(conn, &keys).await?;
        for ((mid, hash), k) in keys.iter().zip(known) {
            let key = identity_key(*mid, hash);
            if let Some(found) = k.identical {
                self.identical.insert(key.clone(), found);
            }
            self.identities_known.insert(key.clone());
            if mid.is_some() {
                if let Some(first) = k.first_with_message_id {
                    self.first_case.insert(key.0.clone(), first);
                }
                self.first_known.insert(key.0);
            }
        }
        Ok(())
    }

    /// The case a follow-up belongs to by its references, as [`cases::find_by_references`]
    /// would answer it after this batch's rows were written: our own outgoing mails first, then
    /// the earliest mail; `None` inside means not answerable here.
    fn case_by_references(&self, refs: &[String]) -> Option<Option<i64>> {
        if !refs.iter().all(|r| self.refs_known.contains(r)) {
            return None;
        }
        // Lowest row id first, whether prefetched or written by this batch.
        let earliest = |before: &HashMap<String, (i64, i64)>, own: &HashMap<String, (i64, i64)>| {
            refs.iter()
                .flat_map(|r| before.get(r).into_iter().chain(own.get(r)))
                .min_by_key(|x| x.0)
                .map(|x| x.1)
        };
        Some(
            earliest(&self.ref_outbox, &self.own_outbox)
                .or_else(|| earliest(&self.ref_message, &self.own_messages)),
        )
    }

    /// The case a follow-up names: by the case number in its subject, else by what it refers
    /// to (our own outgoing mails first, then the earliest mail).
    pub async fn followup_case(
        &mut self,
        conn: &mut PgConnection,
        number: Option<&str>,
        refs: &[String],
    ) -> Result<Option<i64>> {
        if let Some(n) = number {
            if self.numbers_known.contains(n) {
                if let Some(id) = self.numbers.get(n) {
                    return Ok(Some(*id));
                }
            } else {
                // The answer may lie among the held rows of this batch.
                self.needs_store()?;
                self.flush(conn).await?;
                if let Some(c) = cases::get_by_number(conn, n).await? {
                    return Ok(Some(c.id));
                }
            }
        }
        if refs.is_empty() {
            return Ok(None);
        }
        if let Some(answer) = self.case_by_references(refs) {
            return Ok(answer);
        }
        self.needs_store()?;
        self.flush(conn).await?;
        cases::find_by_references(conn, refs).await
    }

    /// The case of our own outgoing mail among `refs` (Message-IDs with our prefix), if any.
    /// Rare (bounces only): asked after writing the held rows.
    pub async fn own_mail_case(
        &mut self,
        conn: &mut PgConnection,
        refs: &[String],
    ) -> Result<Option<CaseRow>> {
        let own: Vec<String> = refs
            .iter()
            .filter(|r| r.starts_with(crate::domain::OWN_MESSAGE_ID_PREFIX))
            .cloned()
            .collect();
        if own.is_empty() {
            return Ok(None);
        }
        self.needs_store()?;
        self.flush(conn).await?;
        match cases::find_by_references(conn, &own).await? {
            Some(id) => cases::get(conn, id)
                .await?
                .map(Some)
                .ok_or(StoreError::CaseNotFound(id)),
            None => Ok(None),
        }
    }

    /// The follow-up's case after following merges, locked (unless read-only). Answered from
    /// memory for the cases locked ahead and this batch's new ones.
    pub async fn case_for_update(
        &mut self,
        conn: &mut PgConnection,
        mut case_id: i64,
    ) -> Result<CaseHead> {
        for _ in 0..16 {
            let head = match self.heads.get(&case_id) {
                Some(h) => h.clone(),
                None => {
                    self.needs_store()?;
                    let Some(h) = cases::heads(conn, &[case_id], !self.read_only).await?.pop()
                    else {
                        return Err(StoreError::CaseNotFound(case_id));
                    };
                    self.heads.insert(h.id, h.clone());
                    h
                }
            };
            match head.merged_into {
                Some(target) => case_id = target,
                None => return Ok(head),
            }
        }
        Err(StoreError::MergeChainTooLong(case_id))
    }

    /// Reopens a case a follow-up joined (see [`cases::reopen`]), keeping its head exact.
    pub async fn reopen(&mut self, conn: &mut PgConnection, case_id: i64) -> Result<()> {
        self.needs_store()?;
        cases::reopen(conn, case_id).await?;
        if let Some(h) = self.heads.get_mut(&case_id) {
            h.status = CaseStatus::Open;
        }
        Ok(())
    }

    /// Writes the held rows of the batch (see [`Pending::flush`]).
    pub async fn flush(&mut self, conn: &mut PgConnection) -> Result<()> {
        self.needs_store()?;
        self.pending.flush(conn).await
    }

    /// Forgets the held rows after their savepoint was rolled back.
    pub fn discard(&mut self) {
        self.pending.discard();
        // Heads read or created inside the rolled-back savepoint (and their locks) are gone.
        self.heads.clear();
    }

    /// What the store holds of this exact mail and of its Message-ID.
    pub async fn known(
        &mut self,
        conn: &mut PgConnection,
        message_id: Option<&str>,
        content_hash: &str,
    ) -> Result<cases::Known> {
        let key = identity_key(message_id, content_hash);
        let complete = self.identities_known.contains(&key)
            && (message_id.is_none() || self.first_known.contains(&key.0));
        if !complete {
            self.needs_store()?;
            self.pending.flush(conn).await?;
            return cases::lookup_identity(conn, message_id, content_hash).await;
        }
        Ok(match self.identical.get(&key) {
            Some(found) => cases::Known {
                identical: Some(found.clone()),
                same_message_id: None,
            },
            None => cases::Known {
                identical: None,
                same_message_id: message_id.and_then(|_| self.first_case.get(&key.0).copied()),
            },
        })
    }

    /// Keeps the identity answers exact after `mail` was stored in `case_id`.
    fn stored(&mut self, mail: &ParsedMail, row_id: i64, case_id: i64, number: &str) {
        if let Some(mid) = &mail.message_id {
            let e = self
                .own_messages
                .entry(mid.clone())
                .or_insert((row_id, case_id));
            if row_id < e.0 {
                *e = (row_id, case_id);
            }
        }
        self.numbers.entry(number.to_string()).or_insert(case_id);
        let key = identity_key(mail.message_id.as_deref(), &mail.content_hash);
        self.identical
            .entry(key.clone())
            .or_insert_with(|| (case_id, number.to_string()));
        self.first_case.entry(key.0.clone()).or_insert(case_id);
        self.own_keys.push(key);
    }

    /// Acknowledgements sent or queued to `to` in the hour before `now`.
    pub async fn acks_last_hour(
        &mut self,
        conn: &mut PgConnection,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        match self.acks.get(to) {
            Some(n) => Ok(*n),
            None => {
                self.needs_store()?;
                self.pending.flush(conn).await?;
                outbox::acks_last_hour(conn, to, now).await
            }
        }
    }

    /// An id for a new outbox row.
    pub async fn next_outbox_id(&mut self, conn: &mut PgConnection) -> Result<i64> {
        match self.outbox_ids.pop_front() {
            Some(id) => Ok(id),
            None => {
                self.needs_store()?;
                outbox::next_id(conn).await
            }
        }
    }

    /// A new case (no mail): its id and number. `case new` writes it at its [`flush`].
    ///
    /// [`flush`]: BatchWriter::flush
    pub async fn new_case(
        &mut self,
        conn: &mut PgConnection,
        c: &NewCase,
        year: i32,
    ) -> Result<(i64, CaseNumber)> {
        let (id, number) = self.pending.new_case(conn, c, year).await?;
        // A new case is open; nobody else sees it before this transaction commits.
        self.heads.insert(
            id,
            CaseHead {
                id,
                number: number.to_string(),
                status: CaseStatus::Open,
                merged_into: None,
            },
        );
        Ok((id, number))
    }

    /// A new case with its first mail: its id, its number and the mail's row id.
    pub async fn new_case_with_mail(
        &mut self,
        conn: &mut PgConnection,
        c: &NewCase,
        year: i32,
        origin: &Origin<'_>,
        mail: &'a ParsedMail,
        raw: &'a [u8],
    ) -> Result<(i64, CaseNumber)> {
        let (id, number) = self.new_case(conn, c, year).await?;
        let row = self
            .message(conn, id, MessageRole::Initial, origin, mail, raw)
            .await?;
        self.stored(mail, row, id, &number.to_string());
        Ok((id, number))
    }

    /// A mail stored with an existing case under `number`; returns the mail's row id.
    #[allow(clippy::too_many_arguments)]
    pub async fn mail_to_case(
        &mut self,
        conn: &mut PgConnection,
        case_id: i64,
        number: &str,
        role: MessageRole,
        origin: &Origin<'_>,
        mail: &'a ParsedMail,
        raw: &'a [u8],
    ) -> Result<i64> {
        let row = self.message(conn, case_id, role, origin, mail, raw).await?;
        self.stored(mail, row, case_id, number);
        Ok(row)
    }

    async fn message(
        &mut self,
        conn: &mut PgConnection,
        case_id: i64,
        role: MessageRole,
        origin: &Origin<'_>,
        mail: &'a ParsedMail,
        raw: &'a [u8],
    ) -> Result<i64> {
        let attachments: &'a [Attachment] = &mail.attachments;
        self.pending
            .message(conn, case_id, role, origin, mail, raw, attachments)
            .await
    }

    /// An audit event of a case, written at the next flush.
    pub fn event(&mut self, case_id: i64, e: &Event<'_>) {
        self.pending.event(case_id, e);
    }

    /// An acknowledgement for the outbox, written at the next flush; the batch counts it
    /// against its recipient's hourly cap and knows its Message-ID from now on.
    pub fn ack(&mut self, o: HeldOutbox) {
        if let Some(n) = self.acks.get_mut(&o.recipient) {
            *n += 1;
        }
        if let Some(case_id) = o.case_id {
            self.own_outbox
                .insert(o.message_id.clone(), (o.id, case_id));
        }
        self.pending.outbox(o);
    }
}
