//! One decision (issue 13 item 4): intake and `explain` call the same `decide`. Each mail of a
//! deterministic sample of the shared corpus (`KRM_TEST_CORPUS_DIR`, default
//! `../shared/corpus`; skipped with a printed line when absent) and every fixture under
//! `tests/fixtures/` goes alone into an empty database through the real intake (IMAP APPEND,
//! the daemon's scan, nothing sent); what it recorded must equal what `explain --db --json` said
//! for it against that empty database. Then `explain --db` must see what intake stored.

use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::helpers::*;

/// About this many corpus mails are sampled (every k-th file in name order).
const CORPUS_SAMPLE: usize = 80;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if path.is_dir() {
            if name != "licenses" {
                files_under(&path, out);
            }
            continue;
        }
        let is_doc = name.starts_with("readme")
            || name.starts_with("license")
            || name.starts_with("copying")
            || name.ends_with(".md")
            || name.ends_with(".txt");
        if !is_doc && !name.starts_with('.') {
            out.push(path);
        }
    }
}

/// Every k-th corpus file (sorted) plus every fixture mail.
fn sample() -> Vec<PathBuf> {
    let corpus = std::env::var_os("KRM_TEST_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir().join("../shared/corpus"));
    let mut all = Vec::new();
    files_under(&corpus, &mut all);
    all.sort();
    let mut files: Vec<PathBuf> = if all.is_empty() {
        println!(
            "decide: corpus {} absent or empty — skipped; only tests/fixtures are compared",
            corpus.display()
        );
        Vec::new()
    } else {
        let k = all.len().div_ceil(CORPUS_SAMPLE).max(1);
        all.into_iter().step_by(k).collect()
    };
    let mut fixtures = Vec::new();
    files_under(&project_dir().join("tests/fixtures"), &mut fixtures);
    fixtures.sort();
    files.extend(fixtures);
    files
}

/// `explain --db --json FILE…` with this world's configuration: one object per file.
fn explain_db(w: &World, files: &[PathBuf]) -> Vec<Value> {
    let out = w
        .command()
        .args(["explain", "--db", "--json"])
        .args(files)
        .output()
        .expect("run explain");
    assert!(
        out.status.success(),
        "explain --db failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("explain JSON");
    v.as_array().expect("array").clone()
}

/// Empties what one mail's intake writes (DELETE: faster than TRUNCATE on tables this small;
/// nothing else of this world's database is written by the test).
async fn empty_database(w: &World) {
    sqlx::raw_sql(
        "DELETE FROM outbox; DELETE FROM case_events; DELETE FROM attachments; \
         DELETE FROM messages; DELETE FROM cases; DELETE FROM quarantine; \
         DELETE FROM case_number_seq;",
    )
    .execute(&w.pool)
    .await
    .expect("empty the database");
}

type CaseRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// What intake recorded for the one mail, in `explain`'s terms: action, ack (send, reason),
/// review reason, rule, organisation — or the quarantine reason.
async fn recorded(w: &World) -> Value {
    let quarantined: Vec<(String,)> = sqlx::query_as("SELECT reason FROM quarantine")
        .fetch_all(&w.pool)
        .await
        .expect("quarantine");
    let cases: Vec<CaseRow> = sqlx::query_as(
        "SELECT ack_status, ack_detail, review_reason, rule_id, organisation FROM cases",
    )
    .fetch_all(&w.pool)
    .await
    .expect("cases");
    match (quarantined.as_slice(), cases.as_slice()) {
        ([(reason,)], []) => serde_json::json!({"action": "quarantine", "error": reason}),
        ([], [(ack, detail, review, rule, org)]) => serde_json::json!({
            "action": "new_case",
            "ack_send": ack == "pending",
            "ack_reason": detail,
            "review_reason": review,
            "rule": rule,
            "organisation": org,
        }),
        other => panic!("one mail, one outcome expected; got {other:?}"),
    }
}

/// The same view of `explain`'s object.
fn explained(e: &Value) -> Value {
    if e["action"] == "quarantine" {
        return serde_json::json!({"action": "quarantine", "error": e["error"]});
    }
    serde_json::json!({
        "action": e["action"],
        "ack_send": e["ack"]["send"],
        "ack_reason": e["ack"]["reason"],
        "review_reason": e["review_reason"],
        "rule": e["rule"],
        "organisation": e["organisation"],
    })
}

#[tokio::test]
async fn intake_records_what_explain_db_says_for_each_mail() {
    let w = World::new("decide").await;
    let app = w.app().await;
    let files = sample();
    let all = explain_db(&w, &files);
    assert_eq!(all.len(), files.len());
    let mut mb = login(OMBUDS).await;
    mb.ensure_folder(&w.folder).await.expect("folder");
    // The daemon's own scan over one kept connection (`run --once` without its start-up).
    let mut inbox = krm_intake::mailbox::Mailbox::connect(&app.settings.imap)
        .await
        .expect("imap");
    let (_stop, never) = tokio::sync::watch::channel(false);
    let mut compared = 0;
    for (file, e) in files.iter().zip(&all) {
        let raw = std::fs::read(file).expect("read");
        empty_database(&w).await;
        if let Err(err) = mb.append(&w.folder, &raw).await {
            println!(
                "decide: {} not accepted by the IMAP server ({err}); skipped",
                file.display()
            );
            continue;
        }
        let uidvalidity = krm_intake::scan::prepare(&mut inbox, &app.pool, &app.settings.imap)
            .await
            .expect("prepare");
        let stats = krm_intake::scan::scan(&mut inbox, &app.pool, &app.ctx, uidvalidity, &never)
            .await
            .expect("scan");
        assert_eq!(stats.handled(), 1, "{}", file.display());
        assert_eq!(
            recorded(&w).await,
            explained(e),
            "{}: intake and explain --db differ",
            file.display()
        );
        compared += 1;
    }
    mb.logout().await;
    inbox.logout().await;
    assert!(compared >= 40, "only {compared} mails compared");
    explain_db_sees_what_intake_stored(&w, &app).await;
}

/// After intake stored a mail, `explain --db` calls the same file seen again, and a reply
/// naming its case number a follow-up of that case.
async fn explain_db_sees_what_intake_stored(w: &World, app: &krm_intake::daemon::App) {
    empty_database(w).await;
    let first = mail(
        CITIZEN,
        OMBUDS,
        "Mein Antrag",
        "Seit Wochen warte ich.",
        "<d1@mail.test>",
    );
    w.append(&first).await;
    krm_intake::daemon::run_once(app, true)
        .await
        .expect("run --once");
    let cases = w.cases().await;
    assert_eq!(cases.len(), 1);
    let number = &cases[0].0;
    let dir = tempfile::tempdir().expect("tempdir");
    let first_file = dir.path().join("a.eml");
    std::fs::write(&first_file, &first).expect("write");
    let reply = mail(
        CITIZEN,
        OMBUDS,
        &format!("AW: [{number}] Eingangsbestätigung"),
        "Danke.",
        "<d2@mail.test>",
    );
    let reply_file = dir.path().join("b.eml");
    std::fs::write(&reply_file, &reply).expect("write");
    let all = explain_db(w, &[first_file, reply_file]);
    assert_eq!(all[0]["action"], "seen_again");
    assert_eq!(all[0]["joins"], number.as_str());
    assert_eq!(all[0]["ack"], Value::Null);
    assert_eq!(all[1]["action"], "followup");
    assert_eq!(all[1]["joins"], number.as_str());
    assert_eq!(all[1]["possible_followup"], false);
}
