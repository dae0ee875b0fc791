//! One pass over the inbox: list every UID, check sizes, fetch bodies in bounded batches,
//! record each mail (one transaction per batch; the batch's rows written in one statement; a
//! savepoint per mail only when the database refuses a mail), and only after commit move mails
//! to the processed or quarantine folder. A mail that cannot be handled never blocks
//! the others; a database that is down stops the pass without losing anything.

use chrono::Utc;
use sqlx::{Acquire, PgConnection, PgPool};
use std::time::Instant;
use thiserror::Error;

use crate::app::Context;
use crate::config::ImapSettings;
use crate::failpoint;
use crate::intake::{self, Outcome};
use crate::mailbox::{ImapError, MailMeta, Mailbox, RawMail};
use crate::message::{self, Limits};
use crate::metrics as m;
use crate::store::batch::{BatchWriter, Predecessor};
use crate::store::cases::Origin;
use crate::store::{self, quarantine, StoreError};

#[derive(Debug, Error)]
pub enum ScanError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ScanError {
    fn from(e: sqlx::Error) -> Self {
        ScanError::Store(StoreError::Sql(e))
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanStats {
    pub new_cases: usize,
    pub followups: usize,
    pub seen_again: usize,
    pub bounces: usize,
    pub quarantined: usize,
}

impl ScanStats {
    pub fn handled(&self) -> usize {
        self.new_cases + self.followups + self.seen_again + self.bounces + self.quarantined
    }
}

/// Upper bound of raw bytes held in memory per batch (besides one oversized mail).
/// Four batches are in memory at once at most (one written, one recorded ahead, one waiting,
/// one being fetched).
const BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Selects the inbox, makes sure the target folders exist, and checks UIDVALIDITY.
pub async fn prepare(mb: &mut Mailbox, pool: &PgPool, s: &ImapSettings) -> Result<u32, ScanError> {
    mb.ensure_folder(&s.processed_folder).await?;
    mb.ensure_folder(&s.quarantine_folder).await?;
    let uidvalidity = mb.select_once(&s.mailbox).await?;
    let mut conn = pool.acquire().await?;
    match store::uidvalidity(&mut conn, &s.channel).await? {
        Some((folder, old)) if folder == s.mailbox && old == uidvalidity as i64 => {}
        Some((_, old)) => {
            // UIDs from before mean nothing now; identity (Message-ID + hash) protects against
            // re-ingesting, so a full re-scan is safe.
            tracing::warn!(channel = %s.channel, old, new = uidvalidity, "UIDVALIDITY changed: resyncing the whole folder");
            store::set_uidvalidity(&mut conn, &s.channel, &s.mailbox, uidvalidity as i64).await?;
        }
        None => {
            store::set_uidvalidity(&mut conn, &s.channel, &s.mailbox, uidvalidity as i64).await?;
        }
    }
    Ok(uidvalidity)
}

/// Processes everything currently in the inbox.
///
/// Pipelined: while one batch is parsed and recorded in the database, the IMAP connection moves
/// the batches before it (already committed) and fetches the batch after it. A batch is moved
/// only after its own commit, so the exactly-once guarantees do not depend on the overlap.
/// Committed batches are moved together once they hold [`MOVE_GROUP`] mails (each MOVE costs
/// the server an index transaction, whatever its size), and as they come once nothing is left
/// to fetch.
pub async fn scan(
    mb: &mut Mailbox,
    pool: &PgPool,
    ctx: &Context,
    uidvalidity: u32,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<ScanStats, ScanError> {
    let uids = mb.all_uids().await?;
    if uids.is_empty() {
        return Ok(ScanStats::default());
    }
    tracing::debug!(count = uids.len(), "inbox listed");
    // Two sides, each at its own pace: the IMAP side fetches and parses the next batches (at
    // most one waits ready) and moves what the database side has committed; the database side
    // records two batches at a time (one written, the next recorded ahead). Memory: two batches
    // recorded, one waiting, one fetched.
    let (to_record, fetched) = tokio::sync::mpsc::channel::<Parsing>(1);
    let (to_move, committed) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
    let imap = imap_side(mb, ctx, &uids, to_record, committed, stop);
    let db = db_side(pool, ctx, uidvalidity, fetched, to_move);
    let (imap, db) = tokio::join!(imap, db);
    // A database error wins: the IMAP side has then stopped fetching and moved what was
    // committed. After an IMAP error, committed but unmoved mails stay in the inbox; the next
    // pass finds them again and moves them without a second case.
    let stats = db?;
    imap?;
    Ok(stats)
}

/// The IMAP side of [`scan`]: asks the sizes of the listed mails chunk by chunk (the first
/// chunk one short batch long, so the first batch is fetched at once), fetches and parses the
/// batches in order and hands them to the database side, and moves committed batches: in
/// groups of at least [`MOVE_GROUP`] mails while it still fetches (or of as many as are still
/// to fetch, once that is fewer, but at least a quarter group), then, with nothing left to
/// fetch, whatever is committed as soon as it is, so the pass does not end with one large
/// MOVE after the last commit. Stops fetching on shutdown or when the database side gave up,
/// and always moves what was committed before returning.
async fn imap_side(
    mb: &mut Mailbox,
    ctx: &Context,
    uids: &[u32],
    to_record: tokio::sync::mpsc::Sender<Parsing>,
    committed: tokio::sync::mpsc::UnboundedReceiver<Recorded>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), ScanError> {
    let mut committed = Committed {
        rx: committed,
        waiting: Vec::new(),
    };
    let mut mover = Mover::start(&ctx.settings.imap, uids.len());
    let fetched = fetch_all(mb, ctx, uids, to_record, &mut committed, &mut mover, stop).await;
    // A group still being moved is waited for, whatever happened meanwhile.
    let moved = mover.finish().await;
    fetched?;
    moved?;
    loop {
        if !committed.waiting.is_empty() {
            move_batches(mb, ctx, committed.take()).await?;
        }
        if !committed.next().await {
            return Ok(());
        }
    }
}

/// The committed batches the IMAP side has not moved yet, and the channel more come on.
struct Committed {
    rx: tokio::sync::mpsc::UnboundedReceiver<Recorded>,
    waiting: Vec<Recorded>,
}

impl Committed {
    /// Takes in what was committed meanwhile, without waiting.
    fn collect(&mut self) {
        while let Ok(r) = self.rx.try_recv() {
            self.waiting.push(r);
        }
    }

    /// Waits for the next commit and takes in what came with it; false once the database side
    /// has finished.
    async fn next(&mut self) -> bool {
        let Some(r) = self.rx.recv().await else {
            return false;
        };
        self.waiting.push(r);
        self.collect();
        true
    }

    fn mails(&self) -> usize {
        self.waiting.iter().map(Recorded::uids).sum()
    }

    fn take(&mut self) -> Vec<Recorded> {
        std::mem::take(&mut self.waiting)
    }
}

/// The fetching part of [`imap_side`]: hands the batches over in order and moves committed
/// groups meanwhile (on the [`Mover`]'s session when it has one, else on this one).
async fn fetch_all(
    mb: &mut Mailbox,
    ctx: &Context,
    uids: &[u32],
    to_record: tokio::sync::mpsc::Sender<Parsing>,
    committed: &mut Committed,
    mover: &mut Mover,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), ScanError> {
    let batch_size = ctx.settings.imap.batch_size.max(1);
    let mut to_fetch = uids.len();
    for chunk in meta_chunks(uids, batch_size) {
        // Shutdown is honoured between batches: those handed over are finished first.
        if *stop.borrow() {
            break;
        }
        for metas in plan_batches(mb, chunk, batch_size).await? {
            if *stop.borrow() {
                return Ok(());
            }
            committed.collect();
            if move_now(committed.mails(), to_fetch, move_group()) {
                if let Some(group) = mover.hand(committed.take()).await? {
                    move_batches(mb, ctx, group).await?;
                }
            }
            to_fetch = to_fetch.saturating_sub(metas.len());
            let batch = fetch_batch(mb, ctx, metas).await?;
            if to_record.send(batch).await.is_err() {
                return Ok(()); // the database side gave up
            }
        }
    }
    Ok(())
}

/// A second IMAP session, for a pass long enough to move groups while it still fetches: a
/// MOVE of 2,000 mails takes Dovecot ~0.2 s, and on the fetching session the database side
/// ran dry meanwhile (the longest gaps between commits of a 10,000-mail pass came after the
/// four group MOVEs). Groups are moved one after the other, in order, each only after its
/// batches committed. Without that session (not yet logged in, or refused), a group is moved
/// on the fetching session as before.
struct Mover {
    connecting: Option<tokio::task::JoinHandle<Result<Mailbox, crate::mailbox::ImapError>>>,
    idle: Option<Mailbox>,
    moving: Option<tokio::task::JoinHandle<Result<Mailbox, ScanError>>>,
    processed: String,
    quarantine: String,
}

impl Mover {
    /// Starts logging in the second session if the pass is long enough to move while fetching.
    fn start(s: &crate::config::ImapSettings, listed: usize) -> Mover {
        let connecting = (listed > smallest_group(move_group())).then(|| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut mb = Mailbox::connect(&s).await?;
                mb.select(&s.mailbox).await?;
                Ok(mb)
            })
        });
        Mover {
            connecting,
            idle: None,
            moving: None,
            processed: s.processed_folder.clone(),
            quarantine: s.quarantine_folder.clone(),
        }
    }

    /// Starts moving `group` on the second session once the group before is moved; gives
    /// the group back when there is no second session to move it.
    async fn hand(&mut self, group: Vec<Recorded>) -> Result<Option<Vec<Recorded>>, ScanError> {
        self.wait().await?;
        if self.idle.is_none() && self.connecting.as_ref().is_some_and(|c| c.is_finished()) {
            match self.connecting.take().expect("checked").await {
                Ok(Ok(mb)) => self.idle = Some(mb),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "no second IMAP session for moving; moving on the first");
                }
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        let Some(mut mb) = self.idle.take() else {
            return Ok(Some(group));
        };
        let (processed, quarantine) = (self.processed.clone(), self.quarantine.clone());
        self.moving = Some(tokio::spawn(async move {
            move_groups(&mut mb, &processed, &quarantine, group, "second").await?;
            Ok(mb)
        }));
        Ok(None)
    }

    /// Waits for the group being moved, if any.
    async fn wait(&mut self) -> Result<(), ScanError> {
        if let Some(moving) = self.moving.take() {
            match moving.await {
                Ok(moved) => self.idle = Some(moved?),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        Ok(())
    }

    /// Waits for the group being moved and logs the second session out.
    async fn finish(mut self) -> Result<(), ScanError> {
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        let moved = self.wait().await;
        if let Some(mb) = self.idle.take() {
            mb.logout().await;
        }
        moved
    }
}

/// The database side of [`scan`]: records the batches handed over, in order, up to two at a
/// time on two connections: while one is written and committed, the next is recorded ahead
/// (see [`record`]). Passes each on to be moved once committed, in order. Returns at the first
/// error (nothing of that batch is committed; a batch after it is abandoned uncommitted).
async fn db_side(
    pool: &PgPool,
    ctx: &Context,
    uidvalidity: u32,
    mut fetched: tokio::sync::mpsc::Receiver<Parsing>,
    to_move: tokio::sync::mpsc::UnboundedSender<Recorded>,
) -> Result<ScanStats, ScanError> {
    use futures::StreamExt;
    let mut stats = ScanStats::default();
    let mut finish = |done: Result<Recorded, ScanError>| -> Result<(), ScanError> {
        let r = done?;
        count_and_log(&r, &mut stats);
        // The IMAP side only stops listening after this side has finished.
        let _ = to_move.send(r);
        Ok(())
    };
    let mut running = futures::stream::FuturesOrdered::new();
    let mut link: Option<Link> = None;
    let mut open = true;
    loop {
        // A batch starts once the one two places before it is committed (its snapshot must see
        // that one; the batch right before it, it takes from memory).
        if open && running.len() < 2 {
            let next = if running.is_empty() {
                fetched.recv().await
            } else {
                tokio::select! {
                    biased;
                    done = running.next() => {
                        finish(done.expect("a running batch"))?;
                        continue;
                    }
                    next = fetched.recv() => next,
                }
            };
            match next {
                Some(parsing) => {
                    let (after, signals) = link_pair();
                    let before = link.replace(after);
                    running.push_back(record(pool, ctx, uidvalidity, parsing, before, signals));
                }
                None => open = false,
            }
            continue;
        }
        match running.next().await {
            Some(done) => finish(done)?,
            None => return Ok(stats),
        }
    }
}

/// What a batch learns of the batch before it: what that one will write, if it was recorded
/// ahead (`None`: it is recorded the ordinary way), then whether it committed as recorded.
struct Link {
    before: tokio::sync::oneshot::Receiver<Option<std::sync::Arc<Predecessor>>>,
    committed: tokio::sync::oneshot::Receiver<bool>,
}

/// The sending ends of the [`Link`] to the batch after.
struct Signals {
    before: Handing,
    committed: tokio::sync::oneshot::Sender<bool>,
}

/// Hands what a batch recorded ahead writes on to the batch after it.
type Handing = tokio::sync::oneshot::Sender<Option<std::sync::Arc<Predecessor>>>;

fn link_pair() -> (Link, Signals) {
    let (b_tx, b_rx) = tokio::sync::oneshot::channel();
    let (c_tx, c_rx) = tokio::sync::oneshot::channel();
    (
        Link {
            before: b_rx,
            committed: c_rx,
        },
        Signals {
            before: b_tx,
            committed: c_tx,
        },
    )
}

/// Waits for a signal of the batch before; if that one failed (and so sent nothing), waits
/// forever: [`db_side`] meets its error first and abandons this batch.
async fn signal<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    match rx.await {
        Ok(v) => v,
        Err(_) => std::future::pending().await,
    }
}

/// The listed UIDs in the chunks whose sizes are asked in one command: the first one (short)
/// batch long, the second two batches long, the others [`META_CHUNK`] long. The second is
/// short too because the pass has nothing fetched ahead yet when it is asked: the sizes of
/// 2,000 mails there held up the second batch by ~25 ms while the database side waited for
/// it; asked two batches later, a long chunk's answer comes while that side has work.
fn meta_chunks(uids: &[u32], batch_size: usize) -> impl Iterator<Item = &[u32]> {
    let (first, rest) = uids.split_at(uids.len().min(first_batch(batch_size)));
    let (second, rest) = rest.split_at(rest.len().min(2 * batch_size));
    [first, second]
        .into_iter()
        .filter(|c| !c.is_empty())
        .chain(rest.chunks(META_CHUNK))
}

/// The sizes of a chunk of listed mails, cut into batches bounded by count and by bytes, so
/// memory stays bounded whatever the backlog.
async fn plan_batches(
    mb: &mut Mailbox,
    uids: &[u32],
    batch_size: usize,
) -> Result<Vec<Vec<MailMeta>>, ScanError> {
    let t_meta = Instant::now();
    let metas = mb.fetch_meta(uids).await?;
    tracing::debug!(
        uids = uids.len(),
        meta_us = t_meta.elapsed().as_micros() as u64,
        "batch sizes fetched"
    );
    let mut batches = Vec::new();
    let mut batch: Vec<MailMeta> = Vec::new();
    let mut bytes = 0usize;
    for meta in metas {
        if !batch.is_empty() && (batch.len() >= batch_size || bytes + meta.size > BATCH_BYTES) {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += meta.size;
        batch.push(meta);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    Ok(batches)
}

/// The first batch of a pass: short, so that the database side starts early (it waits for the
/// whole first batch to be fetched and parsed), and the pass is not held up by a full batch
/// recorded on connections that have done nothing yet.
fn first_batch(batch_size: usize) -> usize {
    batch_size.min(FIRST_BATCH)
}

/// Mails in the first batch of a pass at most, see [`first_batch`].
const FIRST_BATCH: usize = 20;

/// Mails whose sizes are asked in one command (after the first batch's): each answer line is
/// small (UID, size, date), so one round trip per 2,000 mails instead of one per batch.
const META_CHUNK: usize = 2000;

struct Quarantined {
    uid: u32,
    size: usize,
    message_id: Option<String>,
    content_hash: Option<String>,
    reason: String,
}

/// A batch's mails, parsed, and the mails already bound for quarantine (too large, not handed
/// out by the server, or not parseable).
struct Fetched {
    metas: Vec<MailMeta>,
    parsed: Vec<ParsedRaw>,
    to_quarantine: Vec<Quarantined>,
    mails: usize,
    bytes: usize,
    fetch_us: u64,
    parse_us: u64,
}

/// A mail of a batch: its UID, its raw bytes (as fetched) and its parse.
type ParsedRaw = (u32, RawMail, message::ParsedMail);

/// A fetched batch being parsed.
type Parsing = tokio::task::JoinHandle<Fetched>;

/// Committed mails moved with one command (see [`scan`]). Dovecot's cost per MOVE grows with
/// the mailbox, so fewer, larger groups cost it less CPU (10,000 mails: 1.21 → 0.95 s from 500
/// to 2,000). Once nothing is left to fetch, batches move as they are committed.
const MOVE_GROUP: usize = 2000;

/// Whether the IMAP side, still fetching, moves the committed mails waiting now: once they
/// are a [`MOVE_GROUP`], or, near the end, as many as are still to fetch (but at least a
/// quarter group: each MOVE costs the server its index transaction). What is still to move
/// once the last batch is committed is what the pass waits for; moving in such groups keeps
/// that to about the last batches, where one MOVE of up to 2,000 mails would come after them.
fn move_now(waiting: usize, to_fetch: usize, group: usize) -> bool {
    waiting >= group.min(to_fetch.max(smallest_group(group)))
}

/// The fewest mails moved together while fetching: a quarter group.
fn smallest_group(group: usize) -> usize {
    group / 4
}

/// [`MOVE_GROUP`], unless a test sets it ([`failpoint::move_group`]).
fn move_group() -> usize {
    crate::failpoint::move_group().unwrap_or(MOVE_GROUP)
}

/// A committed batch, waiting to be moved.
struct Recorded {
    processed: Vec<(u32, Outcome)>,
    to_quarantine: Vec<Quarantined>,
    mails: usize,
    bytes: usize,
    fetch_us: u64,
    parse_us: u64,
    record_us: u64,
    commit_us: u64,
    /// From the start of recording to the commit.
    ingest: std::time::Duration,
}

impl Recorded {
    fn uids(&self) -> usize {
        self.processed.len() + self.to_quarantine.len()
    }
}

/// Fetches a batch and starts parsing it (on a thread of its own: the handle yields the batch).
async fn fetch_batch(
    mb: &mut Mailbox,
    ctx: &Context,
    metas: Vec<MailMeta>,
) -> Result<Parsing, ScanError> {
    let s = &ctx.settings.imap;
    let limits = Limits {
        max_size: s.max_message_size,
        ..Limits::default()
    };
    let mut to_quarantine: Vec<Quarantined> = Vec::new();
    let mut fetch_uids = Vec::new();
    let mut expected = 0usize;
    for meta in &metas {
        // The size is known before the body is fetched: an oversized mail is never downloaded.
        if meta.size > s.max_message_size {
            to_quarantine.push(Quarantined {
                uid: meta.uid,
                size: meta.size,
                message_id: None,
                content_hash: None,
                reason: message::ParseError::TooLarge {
                    size: meta.size,
                    limit: s.max_message_size,
                }
                .reason_de(),
            });
        } else {
            fetch_uids.push(meta.uid);
            expected += meta.size;
        }
    }
    if !to_quarantine.is_empty() {
        // Only their header blocks: the Message-ID lets `quarantine retry` find such a mail
        // again once the limit is raised (an outside try found it could not).
        let oversized: Vec<u32> = to_quarantine.iter().map(|q| q.uid).collect();
        match mb.fetch_headers(&oversized).await {
            Ok(heads) => {
                for q in &mut to_quarantine {
                    q.message_id = heads
                        .iter()
                        .find(|h| h.uid == q.uid)
                        .and_then(|h| message::raw_message_id(&h.header));
                }
            }
            // The server refused: quarantined without a Message-ID, as before.
            Err(
                e @ crate::mailbox::ImapError::Protocol {
                    source: async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_),
                    ..
                },
            ) => tracing::warn!("headers of oversized mails not fetched: {e}"),
            // A timeout or a broken connection leaves the session unusable: this pass ends.
            Err(e) => return Err(e.into()),
        }
    }
    let t_fetch = Instant::now();
    let mut bodies = mb.fetch_bodies(&fetch_uids, expected).await?;
    // A mail the server lists but will not hand out in a batch gets one more try alone.
    for uid in &fetch_uids {
        if !bodies.iter().any(|(u, _)| u == uid) {
            match mb.fetch_bodies(&[*uid], 0).await {
                Ok(mut one) if !one.is_empty() => bodies.append(&mut one),
                _ => {
                    if mb.all_uids().await?.contains(uid) {
                        to_quarantine.push(Quarantined {
                            uid: *uid,
                            size: 0,
                            message_id: None,
                            content_hash: None,
                            reason: "Der Mailserver liefert den Inhalt dieser Mail nicht aus"
                                .into(),
                        });
                    }
                }
            }
        }
    }
    let fetch_us = t_fetch.elapsed().as_micros() as u64;
    // Parsing is plain CPU work: on a thread of its own, while this side fetches the next batch
    // and the database side records the one before.
    Ok(tokio::task::spawn_blocking(move || {
        let t_parse = Instant::now();
        let (mails, bytes) = (bodies.len(), bodies.iter().map(|(_, r)| r.len()).sum());
        let (parsed, unparseable) = parse_all(bodies, &limits);
        to_quarantine.extend(unparseable);
        Fetched {
            metas,
            parsed,
            to_quarantine,
            mails,
            bytes,
            fetch_us,
            parse_us: t_parse.elapsed().as_micros() as u64,
        }
    }))
}

/// A batch's mails parsed, or bound for quarantine when they cannot be.
fn parse_all(bodies: Vec<(u32, RawMail)>, limits: &Limits) -> (Vec<ParsedRaw>, Vec<Quarantined>) {
    let mut parsed = Vec::with_capacity(bodies.len());
    let mut unparseable = Vec::new();
    for (uid, raw) in bodies {
        match message::parse(&raw, limits) {
            Ok(mut p) => {
                // An attachment is stored inside its mail only (see `store::pending`): its
                // decoded bytes are not needed past the parse.
                for a in &mut p.attachments {
                    a.content = Vec::new();
                }
                parsed.push((uid, raw, p));
            }
            Err(e) => unparseable.push(Quarantined {
                uid,
                size: raw.len(),
                message_id: message::raw_message_id(&raw),
                content_hash: Some(message::content_hash(&raw)),
                reason: e.reason_de(),
            }),
        }
    }
    (parsed, unparseable)
}

/// A parsed mail of a batch: its UID, raw bytes and parse.
type BatchMail<'m> = (u32, &'m [u8], &'m message::ParsedMail);

/// Records a fetched batch in one transaction; no IMAP here.
///
/// Recorded ahead first, if it can be (see `store::batch`): in a read-only snapshot while the
/// batch before is still being committed, taking that batch's rows from memory; once that one
/// has committed as recorded, this batch's transaction locks and checks what it read and writes
/// its rows. Otherwise — the batch before was recorded otherwise, something needed the
/// database, or something changed — the ordinary way: the whole batch without savepoints, its
/// lookups fetched once for all mails; only if the database rejects a mail's data is the batch
/// rolled back and redone mail by mail, each in a savepoint, so that only that mail is
/// quarantined.
async fn record(
    pool: &PgPool,
    ctx: &Context,
    uidvalidity: u32,
    parsing: Parsing,
    before: Option<Link>,
    after: Signals,
) -> Result<Recorded, ScanError> {
    let fetched = match parsing.await {
        Ok(batch) => batch,
        // As if parsing had panicked here (the runtime is not shut down during a scan).
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let s = &ctx.settings.imap;
    let Fetched {
        metas,
        parsed,
        mut to_quarantine,
        mails,
        bytes,
        fetch_us,
        parse_us,
    } = fetched;
    let mut record_d = std::time::Duration::ZERO;
    let started = Instant::now();
    let now = Utc::now();
    let batch: Vec<BatchMail> = parsed
        .iter()
        .map(|(uid, raw, p)| (*uid, &**raw, p))
        .collect();
    let origins: Vec<Origin> = batch
        .iter()
        .map(|(uid, _, _)| Origin {
            channel: &s.channel,
            uidvalidity: Some(uidvalidity as i64),
            uid: Some(*uid as i64),
            received_at: metas
                .iter()
                .find(|m| m.uid == *uid)
                .and_then(|m| m.internal_date)
                .unwrap_or(now),
        })
        .collect();

    // What the batch before will write, if it was recorded ahead; if not, it is waited for.
    let (predecessor, before_committed) = match before {
        None => (None, None),
        Some(Link { before, committed }) => match signal(before).await {
            Some(p) => (Some(p), Some(committed)),
            None => {
                signal(committed).await;
                (None, None)
            }
        },
    };
    let mut conn = pool.acquire().await?;
    let t_record = Instant::now();
    let ahead = record_ahead(
        &mut conn,
        ctx,
        &batch,
        &origins,
        now,
        predecessor.as_deref(),
    )
    .await?;
    record_d += t_record.elapsed();
    let before_as_recorded = match before_committed {
        Some(rx) => signal(rx).await,
        None => true,
    };
    let ahead = ahead.filter(|a| {
        let stands = before_as_recorded || !a.used_before;
        if !stands {
            tracing::debug!("the batch before was recorded again; so is this one");
        }
        stands
    });
    // What this batch writes is handed on only once its settle found it standing (see
    // `write_ahead`): a batch recorded again would otherwise pass on rows that are never
    // written, and the batch after it would be recorded again too, and so on.
    let mut hand_on = Some(after.before);
    let settled = match ahead {
        Some(a) => {
            write_ahead(
                &mut conn,
                ctx,
                uidvalidity,
                a,
                &to_quarantine,
                &mut hand_on,
                &mut record_d,
            )
            .await?
        }
        None => None,
    };
    if let Some(tx) = hand_on {
        let _ = tx.send(None);
    }
    let as_recorded = settled.is_some();
    let (processed, rejected, commit_us) = match settled {
        Some(done) => done,
        None => {
            record_ordinary(
                &mut conn,
                ctx,
                uidvalidity,
                &batch,
                &origins,
                &to_quarantine,
                now,
                &mut record_d,
            )
            .await?
        }
    };
    let _ = after.committed.send(as_recorded);
    to_quarantine.extend(rejected);
    drop(conn);
    failpoint::hit(failpoint::AFTER_COMMIT_BEFORE_MOVE);
    Ok(Recorded {
        processed,
        to_quarantine,
        mails,
        bytes,
        fetch_us,
        parse_us,
        record_us: record_d.as_micros() as u64,
        commit_us,
        ingest: started.elapsed(),
    })
}

/// Writes a batch recorded ahead, with the quarantined mails, in one transaction, once
/// [`BatchWriter::settle`] found what it read unchanged — and from then on hands what it writes
/// on to the batch after it (`hand_on`, taken): what was recorded, nothing refused, and the
/// COMMIT's time. `None` (rolled back) when something changed or the database refused some
/// mail's data: the caller records the batch the ordinary way.
#[allow(clippy::too_many_arguments)]
async fn write_ahead(
    conn: &mut PgConnection,
    ctx: &Context,
    uidvalidity: u32,
    mut a: Ahead<'_>,
    to_quarantine: &[Quarantined],
    hand_on: &mut Option<Handing>,
    record_d: &mut std::time::Duration,
) -> Result<Option<(Vec<(u32, Outcome)>, Vec<Quarantined>, u64)>, ScanError> {
    let t = Instant::now();
    let mut tx = conn.begin().await?;
    if !a.writer.settle(&mut tx).await? {
        tx.rollback().await?;
        tracing::debug!("batch recorded ahead met a change; recording it again");
        return Ok(None);
    }
    // The batch after it starts only now that the one before this is done, so nothing is lost
    // by waiting for the settle; it records ahead while this batch's rows are written.
    if let Some(tx) = hand_on.take() {
        let _ = tx.send(Some(std::sync::Arc::new(a.writer.predecessor())));
    }
    match a.writer.flush(&mut tx).await {
        Ok(()) => {}
        Err(e) if e.is_data_error() => {
            tx.rollback().await?;
            tracing::debug!("data error writing a batch recorded ahead; recording it again: {e}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    let flush_us = t.elapsed().as_micros() as u64;
    let t_commit = Instant::now();
    for q in to_quarantine {
        insert_quarantined(&mut tx, &ctx.settings.imap.channel, uidvalidity, q).await?;
    }
    failpoint::hold_commit().await;
    tx.commit().await?;
    tracing::debug!(
        prefetch_us = a.prefetch_us,
        mails_us = a.mails_us,
        flush_us,
        before_from_memory = a.used_before,
        "batch recorded ahead"
    );
    *record_d += t.elapsed() - t_commit.elapsed();
    Ok(Some((
        a.processed,
        Vec::new(),
        t_commit.elapsed().as_micros() as u64,
    )))
}

/// A batch recorded ahead, not yet written.
struct Ahead<'a> {
    writer: BatchWriter<'a>,
    processed: Vec<(u32, Outcome)>,
    /// Whether it took the batch before's rows from memory.
    used_before: bool,
    prefetch_us: u64,
    mails_us: u64,
}

/// What the batch's mails will ask the store (see [`intake::batch_keys`]).
fn batch_keys<'a>(
    ctx: &Context,
    batch: &[BatchMail<'a>],
) -> Vec<crate::store::batch::MailKeys<'a>> {
    let rules = ctx.rules.current();
    let own = &ctx.settings.ack.own_addresses;
    batch
        .iter()
        .map(|m| intake::batch_keys(m.2, own, &rules))
        .collect()
}

/// Records the batch ahead in a read-only snapshot (see [`record`]); `None` when it cannot be
/// (something needs the database, or the database refuses some mail's data: the ordinary way
/// then sorts it out). Errors only when the connection fails.
async fn record_ahead<'a>(
    conn: &mut PgConnection,
    ctx: &Context,
    batch: &[BatchMail<'a>],
    origins: &[Origin<'_>],
    now: chrono::DateTime<Utc>,
    before: Option<&Predecessor>,
) -> Result<Option<Ahead<'a>>, ScanError> {
    let t = Instant::now();
    let keys = batch_keys(ctx, batch);
    let mut years: Vec<i32> = origins.iter().map(intake::case_year).collect();
    years.sort_unstable();
    years.dedup();
    let mut writer = BatchWriter::reserved(conn, &keys).await?;
    let mut tx = sqlx::Connection::begin_with(
        &mut *conn,
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
         SET LOCAL plan_cache_mode = force_custom_plan",
    )
    .await?;
    let attempt = async {
        let used_before = writer.ahead(&mut tx, &keys, now, &years, before).await?;
        let prefetch_us = t.elapsed().as_micros() as u64;
        let t = Instant::now();
        let mut processed = Vec::with_capacity(batch.len());
        for ((uid, raw, parsed), origin) in batch.iter().zip(origins) {
            let outcome =
                intake::record(&mut tx, ctx, &mut writer, origin, parsed, raw, now).await?;
            processed.push((*uid, outcome));
        }
        Ok::<_, StoreError>((
            processed,
            used_before,
            prefetch_us,
            t.elapsed().as_micros() as u64,
        ))
    }
    .await;
    match attempt {
        Ok((processed, used_before, prefetch_us, mails_us)) => {
            tx.rollback().await?;
            Ok(Some(Ahead {
                writer,
                processed,
                used_before,
                prefetch_us,
                mails_us,
            }))
        }
        // A write refused by the read-only snapshot would be a path that missed its check:
        // recorded the ordinary way all the same.
        Err(e)
            if matches!(e, StoreError::NotAhead)
                || e.is_data_error()
                || e.sqlstate().as_deref() == Some("25006") =>
        {
            tracing::debug!("batch not recorded ahead: {e}");
            tx.rollback().await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The batch recorded the ordinary way (see [`record`]), with the quarantined mails, in one
/// transaction: what was recorded, what the database refused, and the COMMIT's time.
#[allow(clippy::too_many_arguments)]
async fn record_ordinary(
    conn: &mut PgConnection,
    ctx: &Context,
    uidvalidity: u32,
    batch: &[BatchMail<'_>],
    origins: &[Origin<'_>],
    to_quarantine: &[Quarantined],
    now: chrono::DateTime<Utc>,
    record_d: &mut std::time::Duration,
) -> Result<(Vec<(u32, Outcome)>, Vec<Quarantined>, u64), ScanError> {
    let s = &ctx.settings.imap;
    let mut one_by_one = false;
    loop {
        let mut tx = sqlx::Connection::begin_with(&mut *conn, BEGIN_PLANNED_PER_BATCH).await?;
        let t_record = Instant::now();
        let attempt = if one_by_one {
            Some(record_each(&mut tx, ctx, batch, origins, now).await?)
        } else {
            record_whole(&mut tx, ctx, batch, origins, now)
                .await?
                .map(|p| (p, Vec::new()))
        };
        *record_d += t_record.elapsed();
        let Some((processed, rejected)) = attempt else {
            tx.rollback().await?;
            one_by_one = true;
            continue;
        };
        let t_commit = Instant::now();
        for q in to_quarantine.iter().chain(&rejected) {
            insert_quarantined(&mut tx, &s.channel, uidvalidity, q).await?;
        }
        tx.commit().await?;
        return Ok((processed, rejected, t_commit.elapsed().as_micros() as u64));
    }
}

/// Begins a transaction that plans every lookup for the table sizes of now (a generic plan
/// cached while the tables were small would keep scanning them sequentially as they grow), in
/// one round trip. A batch recorded ahead begins its read-only snapshot the same way.
const BEGIN_PLANNED_PER_BATCH: &str = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan";

/// The whole batch in the transaction, its rows written in one statement at the end; `None`
/// when the database refused some mail's data (the caller rolls back and goes mail by mail).
async fn record_whole(
    tx: &mut PgConnection,
    ctx: &Context,
    batch: &[BatchMail<'_>],
    origins: &[Origin<'_>],
    now: chrono::DateTime<Utc>,
) -> Result<Option<Vec<(u32, Outcome)>>, ScanError> {
    let t = Instant::now();
    let keys = batch_keys(ctx, batch);
    let mut writer = match BatchWriter::prefetch(tx, &keys, now).await {
        Ok(w) => w,
        Err(e) if e.is_data_error() => {
            tracing::debug!("data error in the batch's lookups; recording mail by mail: {e}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let prefetch_us = t.elapsed().as_micros() as u64;
    let t = Instant::now();
    let mut processed = Vec::with_capacity(batch.len());
    for ((uid, raw, parsed), origin) in batch.iter().zip(origins) {
        match intake::record(tx, ctx, &mut writer, origin, parsed, raw, now).await {
            Ok(outcome) => processed.push((*uid, outcome)),
            Err(e) if e.is_data_error() => {
                tracing::debug!(uid, "data error in batch; redoing it mail by mail: {e}");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mails_us = t.elapsed().as_micros() as u64;
    let t = Instant::now();
    // The batch's held rows, in one statement.
    let flushed = writer.flush(tx).await;
    tracing::debug!(
        prefetch_us,
        mails_us,
        flush_us = t.elapsed().as_micros() as u64,
        "batch recorded"
    );
    match flushed {
        Ok(()) => Ok(Some(processed)),
        Err(e) if e.is_data_error() => {
            tracing::debug!("data error writing the batch; redoing it mail by mail: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The batch mail by mail, each in a savepoint: a mail whose data the database refuses is
/// rolled back and bound for quarantine, the others are recorded.
async fn record_each(
    tx: &mut PgConnection,
    ctx: &Context,
    batch: &[BatchMail<'_>],
    origins: &[Origin<'_>],
    now: chrono::DateTime<Utc>,
) -> Result<(Vec<(u32, Outcome)>, Vec<Quarantined>), ScanError> {
    let mut processed = Vec::new();
    let mut rejected = Vec::new();
    let mut writer = BatchWriter::default();
    for ((uid, raw, parsed), origin) in batch.iter().zip(origins) {
        let mut sp = tx.begin().await?;
        let recorded =
            match intake::record(&mut sp, ctx, &mut writer, origin, parsed, raw, now).await {
                Ok(outcome) => writer.flush(&mut sp).await.map(|()| outcome),
                Err(e) => Err(e),
            };
        match recorded {
            Ok(outcome) => {
                sp.commit().await?;
                processed.push((*uid, outcome));
            }
            Err(e) if e.is_data_error() => {
                sp.rollback().await?;
                writer.discard();
                rejected.push(Quarantined {
                    uid: *uid,
                    size: raw.len(),
                    message_id: parsed.message_id.clone(),
                    content_hash: Some(parsed.content_hash.clone()),
                    reason: match e.sqlstate() {
                        Some(code) => {
                            format!("Die Datenbank hat die Mail abgelehnt (SQLSTATE {code})")
                        }
                        None => "Die Mail ließ sich nicht speichern (Kodierung)".to_string(),
                    },
                });
            }
            Err(e) => {
                // Connection trouble or the like: nothing is committed, nothing moves.
                writer.discard();
                let _ = sp.rollback().await;
                return Err(e.into());
            }
        }
    }
    Ok((processed, rejected))
}

async fn insert_quarantined(
    tx: &mut PgConnection,
    channel: &str,
    uidvalidity: u32,
    q: &Quarantined,
) -> Result<(), ScanError> {
    quarantine::insert(
        tx,
        &quarantine::NewQuarantine {
            channel,
            uidvalidity: Some(uidvalidity as i64),
            uid: Some(q.uid as i64),
            message_id: q.message_id.as_deref(),
            content_hash: q.content_hash.as_deref(),
            size: Some(q.size as i64),
            reason: &q.reason,
        },
    )
    .await?;
    Ok(())
}

/// Moves committed batches to the processed and quarantine folders (one command per folder).
async fn move_batches(
    mb: &mut Mailbox,
    ctx: &Context,
    batches: Vec<Recorded>,
) -> Result<(), ScanError> {
    let s = &ctx.settings.imap;
    move_groups(
        mb,
        &s.processed_folder,
        &s.quarantine_folder,
        batches,
        "first",
    )
    .await
}

/// [`move_batches`] into these folders, on the pass's `session` (named in the debug log).
async fn move_groups(
    mb: &mut Mailbox,
    processed: &str,
    quarantine: &str,
    batches: Vec<Recorded>,
    session: &'static str,
) -> Result<(), ScanError> {
    let t_move = Instant::now();
    let ok_uids: Vec<u32> = batches
        .iter()
        .flat_map(|r| r.processed.iter().map(|(u, _)| *u))
        .collect();
    mb.move_uids(&ok_uids, processed).await?;
    let q_uids: Vec<u32> = batches
        .iter()
        .flat_map(|r| r.to_quarantine.iter().map(|q| q.uid))
        .collect();
    mb.move_uids(&q_uids, quarantine).await?;
    let move_us = t_move.elapsed().as_micros() as u64;
    tracing::debug!(
        mails = ok_uids.len() + q_uids.len(),
        move_us,
        session,
        "batches moved"
    );
    Ok(())
}

/// Counts and logs a committed batch (once: a batch redone mail by mail reaches here only with
/// its final outcome).
fn count_and_log(r: &Recorded, stats: &mut ScanStats) {
    for (uid, outcome) in &r.processed {
        match outcome {
            Outcome::NewCase { .. } => stats.new_cases += 1,
            Outcome::FollowUp { .. } => stats.followups += 1,
            Outcome::SeenAgain { .. } => stats.seen_again += 1,
            Outcome::Bounce { .. } => stats.bounces += 1,
        }
        log_outcome(*uid, outcome);
    }
    tracing::debug!(
        mails = r.mails,
        bytes = r.bytes,
        fetch_us = r.fetch_us,
        parse_us = r.parse_us,
        record_us = r.record_us,
        commit_us = r.commit_us,
        "batch timings"
    );
    for q in &r.to_quarantine {
        tracing::warn!(uid = q.uid, size = q.size, "mail quarantined: {}", q.reason);
    }
    stats.quarantined += r.to_quarantine.len();
    m::ingested(r.processed.len(), r.to_quarantine.len(), r.ingest);
}

fn log_outcome(uid: u32, o: &Outcome) {
    match o {
        Outcome::NewCase { number, ack } => {
            m::counter(m::CASES_CREATED, 1);
            tracing::info!(uid, case = %number, ack = %ack_label(ack), "new case");
        }
        Outcome::FollowUp { number, reopened } => {
            m::counter(m::FOLLOWUPS, 1);
            tracing::info!(uid, case = %number, reopened, "follow-up joined its case");
        }
        Outcome::SeenAgain { number } => {
            m::counter(m::SEEN_AGAIN, 1);
            tracing::info!(uid, case = %number, "mail seen again; moved without a new case");
        }
        Outcome::Bounce { number } => {
            m::counter(m::BOUNCES, 1);
            tracing::info!(uid, case = %number, "acknowledgement bounced; recorded on case");
        }
    }
}

fn ack_label(a: &intake::AckDecision) -> &'static str {
    match a {
        intake::AckDecision::Enqueued => "enqueued",
        intake::AckDecision::Suppressed(_) => "suppressed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_mails_move_in_groups_that_shrink_towards_the_end() {
        // Far from the end: full groups only.
        assert!(!move_now(1999, 8000, MOVE_GROUP));
        assert!(move_now(2000, 8000, MOVE_GROUP));
        // Near the end: as many as are still to fetch, but a quarter group at least.
        assert!(!move_now(799, 800, MOVE_GROUP));
        assert!(move_now(800, 800, MOVE_GROUP));
        assert!(!move_now(499, 100, MOVE_GROUP));
        assert!(move_now(500, 100, MOVE_GROUP));
        assert!(!move_now(0, 0, MOVE_GROUP));
    }

    #[test]
    fn sizes_are_asked_for_a_short_first_batch_then_two_batches_then_in_large_chunks() {
        let uids: Vec<u32> = (1..=4500).collect();
        let chunks: Vec<&[u32]> = meta_chunks(&uids, 100).collect();
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(
            lens,
            [FIRST_BATCH, 200, META_CHUNK, META_CHUNK, 300 - FIRST_BATCH]
        );
        assert_eq!(chunks.concat(), uids, "every UID once, in order");
        assert_eq!(
            meta_chunks(&uids[..15], 100).collect::<Vec<_>>(),
            [&uids[..15]]
        );
        assert_eq!(
            meta_chunks(&uids[..50], 100).collect::<Vec<_>>(),
            [&uids[..FIRST_BATCH], &uids[FIRST_BATCH..50]]
        );
        // A batch size below the first batch's bound is kept.
        let small: Vec<usize> = meta_chunks(&uids[..30], 7).map(<[u32]>::len).collect();
        assert_eq!(small, [7, 14, 9]);
        assert_eq!(meta_chunks(&[], 100).count(), 0);
    }
}
