//! Tools for admins (issue 4 item 5): `explain` and `rules check` as the real binary, in a clean
//! environment and without any server; and live reload of the rules in the running daemon
//! (item 6) against the real servers.

use crate::helpers::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary with an empty environment, run from the project directory (so `./rules` is the
/// shipped rules directory).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_krm-intake"));
    c.env_clear();
    if let Ok(p) = std::env::var("PATH") {
        c.env("PATH", p);
    }
    c.current_dir(project_dir());
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run krm-intake");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn explain_json(c: &mut Command) -> (i32, Vec<Value>) {
    let (code, out, err) = run(c);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v.as_array().expect("a JSON array").clone())
}

fn fixture_dir() -> PathBuf {
    project_dir().join("tests/fixtures/rules")
}

/// Organisation per fixture as the daemon classifies it (None: a citizen, "ohne Dritte").
const EXPECTED: &[(&str, Option<&str>)] = &[
    (
        "caritas-ohne-einheit.eml",
        Some("Caritasverband für Dresden e.V."),
    ),
    (
        "caritas-schuldnerberatung.eml",
        Some("Caritas Schuldnerberatung"),
    ),
    (
        "caritas-schwangerschaftsberatung.eml",
        Some("Caritas Schwangerschaftsberatung"),
    ),
    (
        "centre-forwards-client.eml",
        Some("Beratungsstelle Mittelpunkt"),
    ),
    (
        "citizen-cc-counsellor.eml",
        Some("Caritas Schuldnerberatung"),
    ),
    // A city counsellor in Cc, the service named in the citizen's own text (`cc` + `text`);
    // named only in the quoted part, the Cc alone decides nothing.
    ("citizen-cc-stadt-quoted.eml", None),
    (
        "citizen-cc-stadt-spdi.eml",
        Some("Gesundheitsamt Dresden – Sozialpsychiatrischer Dienst"),
    ),
    ("citizen-mentions-centre.eml", None),
    ("counsellor-freemail.eml", Some("Caritas Schuldnerberatung")),
    ("env-caritas.eml", Some("Caritas Schuldnerberatung")),
    ("env-citizen.eml", None),
    ("env-internal.eml", Some("Jobcenter (intern)")),
    ("env-mittelpunkt.eml", Some("Beratungsstelle Mittelpunkt")),
    // An internal forward as attachment: the original's signature tells the unit apart.
    (
        "jobcenter-forward-attached.eml",
        Some("Diakonie Wohnungsnotfallhilfe"),
    ),
    ("jobcenter-forward-citizen.eml", None),
    (
        "jobcenter-forward-outlook.eml",
        Some("Caritas Schwangerschaftsberatung"),
    ),
    ("stadt-ohne-einheit.eml", Some("Landeshauptstadt Dresden")),
    (
        "stadt-sozialamt.eml",
        Some("Landeshauptstadt Dresden – Sozialamt"),
    ),
    (
        "stadt-spdi.eml",
        Some("Gesundheitsamt Dresden – Sozialpsychiatrischer Dienst"),
    ),
    ("top-posted-reply.eml", None),
];

#[test]
fn explain_json_on_the_fixture_files_gives_the_expected_organisations() {
    let mut c = bin();
    c.args(["explain", "--json"]);
    for (f, _) in EXPECTED {
        c.arg(fixture_dir().join(f));
    }
    let (code, all) = explain_json(&mut c);
    assert_eq!(code, 0);
    assert_eq!(all.len(), EXPECTED.len());
    let keys = [
        "file",
        "from",
        "from_name",
        "subject",
        "date",
        "text",
        "attachments",
        "rule",
        "organisation",
        "category",
        "third_party",
        "evidence",
        "auto_reply",
        "case_number",
        "kind_suggestion",
        "topic_suggestions",
        "error",
    ];
    for (e, (name, org)) in all.iter().zip(EXPECTED) {
        for k in keys {
            assert!(e.get(k).is_some(), "{name}: key {k} missing: {e}");
        }
        assert!(e["file"].as_str().unwrap().ends_with(name));
        assert_eq!(e["organisation"].as_str(), *org, "{name}: {e}");
        assert_eq!(e["error"], Value::Null);
        assert_eq!(e["auto_reply"], "none");
        let date = e["date"].as_str().expect("date");
        chrono::DateTime::parse_from_rfc3339(date).expect("RFC 3339 date");
        match org {
            Some(_) => {
                assert!(e["rule"].is_string());
                assert!(e["category"].is_string());
                let ev = e["evidence"].as_array().unwrap();
                assert!(!ev.is_empty(), "{name}");
                for x in ev {
                    for k in ["field", "text", "condition"] {
                        assert!(x[k].is_string(), "{name}: evidence {x}");
                    }
                }
            }
            None => {
                assert_eq!(e["rule"], Value::Null);
                assert_eq!(e["category"], Value::Null);
                assert_eq!(e["third_party"], false);
                assert_eq!(e["evidence"], serde_json::json!([]));
            }
        }
    }
    let by = |n: &str| {
        all.iter()
            .find(|e| e["file"].as_str().unwrap().ends_with(n))
            .unwrap()
    };
    // A counsellor on freemail: the signature decides.
    let f = by("counsellor-freemail.eml");
    assert_eq!(f["from"], "anna.beispiel@mail.test");
    assert_eq!(f["from_name"], "Anna Beispiel");
    assert_eq!(f["third_party"], true);
    assert_eq!(f["evidence"][0]["field"], "signature");
    // `text` is the whole body, not the excerpt.
    let text = f["text"].as_str().unwrap();
    assert!(text.contains("Eine Vollmacht liegt bei.\n") && text.contains("Tel. 0351"));
    // A citizen mentioning a centre in the body stays a citizen; hints are suggested.
    let c = by("citizen-mentions-centre.eml");
    assert_eq!(c["kind_suggestion"], "beschwerde");
    assert!(c["topic_suggestions"]
        .as_array()
        .unwrap()
        .contains(&Value::from("Bearbeitungsdauer")));
    // An internal forward: the original sender decides, no acknowledgement to a colleague.
    let j = by("jobcenter-forward-outlook.eml");
    assert_eq!(j["original_sender"], "b.muster@caritas-dresden.test");
    assert_eq!(j["ack"]["send"], false);
    assert_eq!(j["ack"]["reason"], "interne Adresse der Behörde");
    // The attachment is listed with name, type and size.
    let a = by("jobcenter-forward-attached.eml");
    assert_eq!(a["attachments"][0]["content_type"], "message/rfc822");
    assert!(a["attachments"][0]["size"].as_u64().unwrap() > 100);
}

#[test]
fn explain_text_on_a_directory_ends_with_a_summary_per_organisation() {
    let (code, out, err) = run(bin().args(["explain", "tests/fixtures/rules"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("\n== ").count() + 1, EXPECTED.len(), "{out}");
    let first = out.find("caritas-ohne-einheit.eml").unwrap();
    let last = out.find("top-posted-reply.eml").unwrap();
    assert!(first < last, "files in name order");
    assert!(out.contains("  Absender:         anna.beispiel@mail.test\n"));
    assert!(out.contains("  Organisation:     Caritas Schuldnerberatung (Beratungsstelle)\n"));
    assert!(out.contains(
        "  Dienst:           neuer Vorgang + Eingangsbestätigung an buerger@mail.test\n"
    ));
    let summary = &out[out.find("Zusammenfassung: 20 Dateien").expect(&out)..];
    let count = |org: &str| -> usize {
        summary
            .lines()
            .find(|l| l.trim_start().starts_with(org) && l[..l.len() - 5].trim() == org)
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{org} not in summary:\n{summary}"))
    };
    let mut expected: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, org) in EXPECTED {
        *expected.entry(org.unwrap_or("ohne Dritte")).or_default() += 1;
    }
    for (org, n) in expected {
        assert_eq!(count(org), n, "{org}");
    }
}

#[test]
fn explain_reads_mbox_files_skips_dotfiles_and_explains_garbage_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut mbox = b"From buerger@mail.test Mon Mar  2 10:00:00 2026\n".to_vec();
    mbox.extend(std::fs::read(fixture_dir().join("citizen-cc-counsellor.eml")).unwrap());
    std::fs::write(dir.path().join("b-mbox-ohne-endung"), &mbox).unwrap();
    std::fs::write(
        dir.path().join("a-garbage.bin"),
        [0u8, 159, 146, 150, 255, 0, 13, 10],
    )
    .unwrap();
    std::fs::write(dir.path().join(".versteckt.eml"), "nicht lesen").unwrap();
    std::fs::create_dir(dir.path().join("unterordner")).unwrap();
    std::fs::write(dir.path().join("unterordner/x.eml"), &mbox).unwrap();

    let (code, all) = explain_json(bin().args(["explain", "--json"]).arg(dir.path()));
    assert_eq!(code, 0, "unparseable mails are explained, not failures");
    assert_eq!(all.len(), 2, "{all:?}");
    let (garbage, mbox) = (&all[0], &all[1]);
    assert!(garbage["file"].as_str().unwrap().ends_with("a-garbage.bin"));
    assert!(garbage["error"]
        .as_str()
        .unwrap()
        .starts_with("Mail konnte nicht gelesen werden"));
    assert_eq!(garbage["action"], "quarantine");
    assert_eq!(garbage["organisation"], Value::Null);
    assert_eq!(mbox["error"], Value::Null);
    assert_eq!(mbox["from"], "buerger@mail.test");
    assert_eq!(mbox["subject"], "Mein Widerspruch");
    assert_eq!(mbox["organisation"], "Caritas Schuldnerberatung");

    let (code, out, _) = run(bin().arg("explain").arg(dir.path()));
    assert_eq!(code, 0);
    assert!(out.contains("Quarantäne"), "{out}");
    assert!(!out.contains("versteckt"));

    // A file that cannot be read at all: reported, the others still explained, exit 1.
    let (code, all) = explain_json(
        bin()
            .args(["explain", "--json", "gibt-es-nicht.eml"])
            .arg(dir.path().join("b-mbox-ohne-endung")),
    );
    assert_eq!(code, 1);
    assert_eq!(all[0]["error"], "Datei nicht gefunden");
    assert_eq!(all[0]["action"], Value::Null);
    assert_eq!(all[1]["organisation"], "Caritas Schuldnerberatung");
}

const NEW_RULE: &str = "[[rule]]\nid = \"verein-neu\"\norganisation = \"Verein Neu\"\ncategory = \"Verein/Initiative\"\nthird_party = true\naddress = \"buerger@mail.test\"\n";

fn rules_dir_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["senders.toml", "hints.toml", "topics.toml"] {
        std::fs::copy(project_dir().join("rules").join(f), dir.path().join(f)).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn explain_rules_dir_precedence_flag_then_env_then_cwd() {
    let custom = rules_dir_with(&[("neu.toml", NEW_RULE)]);
    let mail = fixture_dir().join("env-citizen.eml");
    let org = |c: &mut Command| {
        let (code, all) = explain_json(c);
        assert_eq!(code, 0);
        all[0]["organisation"].clone()
    };
    // ./rules (shipped): a citizen.
    assert_eq!(
        org(bin().args(["explain", "--json"]).arg(&mail)),
        Value::Null
    );
    // KRM_RULES_DIR beats ./rules.
    assert_eq!(
        org(bin()
            .env("KRM_RULES_DIR", custom.path())
            .args(["explain", "--json"])
            .arg(&mail)),
        "Verein Neu"
    );
    // --rules beats KRM_RULES_DIR.
    assert_eq!(
        org(bin()
            .env("KRM_RULES_DIR", "/gibt/es/nicht")
            .args(["explain", "--json", "--rules", "rules"])
            .arg(&mail)),
        Value::Null
    );
    // An invalid rules directory is an error, not an empty rule set.
    let bad = rules_dir_with(&[("kaputt.toml", "[[rule]]\nid = \"x\"\n")]);
    let (code, out, err) = run(bin()
        .args(["explain", "--rules"])
        .arg(bad.path())
        .arg(&mail));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("kaputt.toml:1"), "{err}");
}

/// `rules check DIR`: exit code and stdout.
fn check(dir: &Path) -> (i32, String) {
    let (code, out, err) = run(bin().args(["rules", "check"]).arg(dir));
    (code, format!("{out}{err}"))
}

const RULE_HEAD: &str =
    "[[rule]]\norganisation = \"O\"\ncategory = \"Träger\"\nthird_party = true\n";

#[test]
fn rules_check_names_file_line_and_rule_for_each_kind_of_error() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "typo key",
            format!("{RULE_HEAD}id = \"tippfehler\"\ndomain = \"x.test\"\nprority = 5\n"),
            "zusatz.toml:7: Regel tippfehler: unbekannter Schlüssel „prority“",
        ),
        (
            "invalid regex",
            format!("{RULE_HEAD}id = \"regex-kaputt\"\nsignature = \"re:Schuldner(\"\n"),
            "zusatz.toml:6: Regel regex-kaputt: signature: ungültiger regulärer Ausdruck \
             „Schuldner(“: die Klammer „(“ wird nicht geschlossen (Zeichen 10)",
        ),
        (
            "duplicate id",
            format!("{RULE_HEAD}id = \"caritas-dresden\"\ndomain = \"x.test\"\n"),
            "zusatz.toml:5: Regel caritas-dresden: id „caritas-dresden“ ist doppelt vergeben (zuerst in senders.toml:",
        ),
        (
            "no condition",
            format!("{RULE_HEAD}id = \"ohne-bedingung\"\n"),
            "zusatz.toml:1: Regel ohne-bedingung: Regel ohne Bedingung",
        ),
        (
            "text alone",
            format!("{RULE_HEAD}id = \"nur-text\"\ntext = \"Sozialpsychiatrischer Dienst\"\n"),
            "zusatz.toml:1: Regel nur-text: „text“ allein ist zu breit",
        ),
        (
            "catastrophic pattern",
            format!("{RULE_HEAD}id = \"riesig\"\nsignature = 're:\\w{{1000}}{{1000}}'\n"),
            "zusatz.toml:6: Regel riesig: signature:",
        ),
    ];
    for (what, text, needle) in &cases {
        let dir = rules_dir_with(&[("zusatz.toml", text)]);
        let (code, out) = check(dir.path());
        assert_eq!(code, 2, "{what}: {out}");
        assert!(
            out.contains(needle),
            "{what}: expected „{needle}“ in:\n{out}"
        );
        assert!(out.contains("1 Fehler in"), "{what}: {out}");
    }

    let big = "# Kommentar\n".repeat(10 * 1024 * 1024 / 12 + 1);
    let dir = rules_dir_with(&[("riesig.toml", &big)]);
    let (code, out) = check(dir.path());
    assert_eq!(code, 2);
    assert!(
        out.contains("riesig.toml: Datei ist zu groß (10,0 MB"),
        "{out}"
    );
}

#[test]
fn rules_check_passes_the_shipped_rules_and_check_prints_warnings_once() {
    let (code, out) = check(&project_dir().join("rules"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Regeln in Ordnung (Version "), "{out}");
    // A file instead of the directory: one German line naming the directory to check.
    let (code, out) = check(&project_dir().join("rules/senders.toml"));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("ist eine Datei; geprüft wird das ganze Regelverzeichnis")
            && !out.contains("os error"),
        "{out}"
    );

    // A shadowed rule is a warning: `rules check` passes, `check` shows it with one prefix.
    let shadowed =
        format!("{RULE_HEAD}id = \"caritas-zweit\"\ndomain = \"caritas-dresden.test\"\n");
    let dir = rules_dir_with(&[("zweit.toml", &shadowed)]);
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("zweit.toml:1: Warnung: Regel caritas-zweit: Regel greift nie"),
        "{out}"
    );
    let (_, out, _) = run(bin().env("KRM_RULES_DIR", dir.path()).arg("check"));
    let line = out
        .lines()
        .find(|l| l.contains("caritas-zweit"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line.matches("Warnung").count(), 1, "{line}");
    assert!(
        line.contains("zweit.toml:1: Warnung: Regel caritas-zweit"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------------
// Live reload in the running daemon.

/// The daemon binary with its log (JSON lines on stderr) collected.
struct LoggedDaemon {
    child: Child,
    log: Arc<Mutex<Vec<Value>>>,
}

impl LoggedDaemon {
    fn start(w: &World) -> LoggedDaemon {
        let mut child = w
            .command()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        LoggedDaemon { child, log }
    }

    fn messages(&self, prefix: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .cloned()
            .collect()
    }

    /// Waits (bounded) until the log holds at least `n` lines starting with `prefix`; returns
    /// the `n`-th.
    async fn wait_for(&self, prefix: &str, n: usize) -> Value {
        for _ in 0..300 {
            if let Some(v) = self.messages(prefix).get(n - 1) {
                return v.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {n}. log line „{prefix}“ after 30 s; log:\n{:#?}",
            self.log.lock().unwrap()
        );
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }

    async fn stop(mut self) {
        self.signal(libc::SIGTERM);
        for _ in 0..150 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "daemon exit status {status}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the daemon did not stop within 15 s of SIGTERM");
    }
}

impl Drop for LoggedDaemon {
    fn drop(&mut self) {
        // A failed assertion must not leave the daemon running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes a file the way an admin's deploy should: a dotfile first, then renamed into place.
fn write_atomically(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

async fn deliver_and_classify(w: &World, n: i64) -> (Option<String>, String) {
    let from = w.sender(CITIZEN);
    let raw = mail(
        &format!("Max Muster <{from}>"),
        &w.inbox_address(),
        &format!("Anliegen {n}"),
        &format!("Guten Tag,\r\nmein Anliegen Nummer {n}.\r\n\r\nGruß\r\nMax Muster"),
        &format!("<reload-{n}.{}@mail.test>", w.name),
    );
    // Not `w.deliver`: the running daemon may move the mail before a count would see it.
    smtp_send(&from, &w.inbox_address(), &raw).await;
    w.wait_scalar("SELECT count(*) FROM cases", n).await;
    let (count, org, version): (i64, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cases), organisation, ruleset_version FROM cases ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&w.pool)
    .await
    .expect("latest case");
    assert_eq!(count, n, "mail {n} became case {count}");
    (org, version.expect("ruleset_version recorded"))
}

#[tokio::test]
async fn the_daemon_reloads_rules_on_change_and_sighup_and_keeps_the_last_good_set() {
    // KRM_RULES_DIR is a symlink to a copy of the shipped rules, so that the SIGHUP step below
    // can swap the whole directory where the watcher does not look.
    let base = tempfile::tempdir().unwrap();
    let first = rules_dir_with(&[]);
    let current = base.path().join("rules");
    std::os::unix::fs::symlink(first.path(), &current).unwrap();
    let current_s = current.display().to_string();
    let w = World::with_env(
        "reload",
        &[
            ("KRM_IMAP_IDLE_SECS", "5"),
            ("KRM_RULES_DIR", &current_s),
            ("KRM_LOG_FORMAT", "json"),
            ("KRM_LOG_LEVEL", "info"),
        ],
    )
    .await;
    let d = LoggedDaemon::start(&w);
    d.wait_for("krm-intake running", 1).await;
    let (org, v1) = deliver_and_classify(&w, 1).await;
    assert_eq!(org, None, "no rule knows the sender yet");

    // 1. A new rule file appears: reloaded, the next mail gets the organisation.
    let sender = w.sender(CITIZEN);
    let rule = NEW_RULE.replace("buerger@mail.test", &sender);
    write_atomically(&current, "neu.toml", &rule);
    let reloaded = d.wait_for("rules reloaded", 1).await;
    let v2 = reloaded["version"].as_str().unwrap().to_string();
    assert_ne!(v2, v1);
    let (org, version) = deliver_and_classify(&w, 2).await;
    assert_eq!(org.as_deref(), Some("Verein Neu"));
    assert_eq!(version, v2);

    // 2. An invalid set is refused with file, line and rule; the last good set stays.
    write_atomically(
        &current,
        "kaputt.toml",
        &format!("{RULE_HEAD}id = \"regex-kaputt\"\nsignature = \"re:(\"\n"),
    );
    let refused = d.wait_for("rules refused", 1).await;
    let msg = refused["message"].as_str().unwrap();
    assert!(msg.contains("kaputt.toml:6: Regel regex-kaputt"), "{msg}");
    let (org, version) = deliver_and_classify(&w, 3).await;
    assert_eq!(org.as_deref(), Some("Verein Neu"));
    assert_eq!(version, v2);

    // 3. SIGHUP: the symlink now points at another directory, which the watcher does not see
    // (it watches the directory it resolved at start); only the signal brings it in.
    let second = rules_dir_with(&[("neu.toml", &rule.replace("Verein Neu", "Verein Neu e.V."))]);
    let link_tmp = base.path().join(".rules.new");
    std::os::unix::fs::symlink(second.path(), &link_tmp).unwrap();
    std::fs::rename(&link_tmp, &current).unwrap();
    let (org, _) = deliver_and_classify(&w, 4).await;
    assert_eq!(
        org.as_deref(),
        Some("Verein Neu"),
        "not reloaded without a signal"
    );
    assert_eq!(d.messages("rules reloaded").len(), 1);
    d.signal(libc::SIGHUP);
    let reloaded = d.wait_for("rules reloaded", 2).await;
    let v3 = reloaded["version"].as_str().unwrap().to_string();
    assert_ne!(v3, v2);
    let (org, version) = deliver_and_classify(&w, 5).await;
    assert_eq!(org.as_deref(), Some("Verein Neu e.V."));
    assert_eq!(version, v3);

    // A SIGHUP without changes says so.
    d.signal(libc::SIGHUP);
    let same = d.wait_for("rules unchanged", 1).await;
    assert_eq!(same["version"], Value::from(v3.as_str()));
    // One reload per change: reading the rules must not trigger the watcher again (that was a
    // reload loop every second).
    assert_eq!(d.messages("rules unchanged").len(), 1);
    assert_eq!(d.messages("rules refused").len(), 1);
    assert_eq!(d.messages("rules reloaded").len(), 2);
    // Logs at info carry no addresses (§ 35 SGB I).
    let log = format!("{:?}", d.log.lock().unwrap());
    assert!(!log.contains("buerger"), "{log}");
    d.stop().await;
}
