//! Bad input at the edges: one clear line naming what failed, no secret, non-zero exit.

use crate::helpers::*;

fn run_once(w: &World, env: &[(&str, &str)]) -> (i32, String) {
    let mut c = w.command();
    c.args(["run", "--once"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    w.assert_private(&err);
    (out.status.code().unwrap_or(-1), err)
}

#[tokio::test]
async fn a_wrong_password_is_named_without_the_password() {
    let w = World::new("badpw").await;
    // A mail waits in the inbox: the failing run must not log anything of it either.
    let from = w.sender(CITIZEN);
    w.deliver(
        &from,
        &mail(
            &format!("Erika Beispiel <{from}>"),
            &w.inbox_address(),
            "Frage zum Bescheid",
            "Guten Tag,\r\nich warte auf eine Antwort.\r\n",
            &format!("<badpw.{}@mail.test>", w.name),
        ),
    )
    .await;
    let (code, err) = run_once(&w, &[("KRM_IMAP_PASSWORD", "falsch-geheim-123")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("IMAP-Anmeldung"), "{err}");
    assert!(!err.contains("falsch-geheim-123"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_named() {
    let w = World::new("unreach").await;
    let (code, err) = run_once(&w, &[("KRM_IMAP_PORT", "1")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let (code, err) = run_once(
        &w,
        &[(
            "KRM_DATABASE_URL",
            "postgres://postgres:pw-geheim@127.0.0.1:1/x",
        )],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Datenbank auf 127.0.0.1:1/x"), "{err}");
    assert!(!err.contains("pw-geheim"), "{err}");
}

#[tokio::test]
async fn a_missing_folder_is_named() {
    let w = World::new("nofolder").await;
    // Nothing was ever delivered to this test's folder, so it does not exist.
    let (code, err) = run_once(&w, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&w.folder), "{err}");
}

#[tokio::test]
async fn a_malformed_config_names_file_and_line() {
    let w = World::new("badconf").await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("krm.toml");
    std::fs::write(&f, "[digest]\nwithin_working_days = \"drei\"\n").unwrap();
    let out = w
        .command()
        .arg("--config")
        .arg(&f)
        .arg("check")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "digest.within_working_days (KRM_DIGEST_WITHIN_WORKING_DAYS): erwartet eine ganze Zahl"
        ),
        "{err}"
    );

    std::fs::write(&f, "[imap\nport = 1\n").unwrap();
    let out = w
        .command()
        .arg("--config")
        .arg(&f)
        .arg("check")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("krm.toml: Zeile 1: "), "{err}");
}

#[tokio::test]
async fn check_needs_no_server_and_accepts_the_example_config() {
    let w = World::new("check").await;
    let example =
        std::fs::read_to_string(project_dir().join("deploy/krm-intake.example.toml")).unwrap();
    // The example points at /etc paths and a systemd credential; make it local.
    let local = example
        .replace("password_file = \"%d/imap-password\"", "password = \"x\"")
        .replace(
            "\"/etc/krm-intake/rules\"",
            &format!("{:?}", project_dir().join("rules").display().to_string()),
        )
        .replace(
            "\"/etc/krm-intake/templates\"",
            &format!(
                "{:?}",
                project_dir().join("templates").display().to_string()
            ),
        );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("krm.toml");
    std::fs::write(&f, local).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_krm-intake"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--config")
        .arg(&f)
        .arg("check")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Konfiguration in Ordnung"), "{text}");
    drop(w);
}

/// Runs the binary with the world's environment plus `env`; returns exit code, stdout+stderr.
fn krm(w: &World, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut c = w.command();
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A copy of the shipped rules or templates, to break one file of it.
fn copy_dir(from: &str, to: &std::path::Path) -> String {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(project_dir().join(from)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to.display().to_string()
}

#[tokio::test]
async fn a_garbage_ca_file_is_a_configuration_error_naming_the_file() {
    let w = World::new("badca").await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca-kaputt.pem");
    std::fs::write(&ca, "das ist kein Zertifikat\n").unwrap();
    let ca = ca.display().to_string();
    for key in ["KRM_IMAP_CA_FILE", "KRM_SMTP_CA_FILE"] {
        let (code, text) = krm(&w, &[(key, &ca)], &["check"]);
        assert_eq!(code, 2, "{key}: {text}");
        assert!(
            text.contains(&format!("{ca}: keine PEM-Zertifikate")),
            "{text}"
        );
        assert_eq!(
            text.matches("ca-kaputt.pem").count(),
            1,
            "named once: {text}"
        );
        // The daemon refuses to start with the same exit code, before any server.
        let (code, text) = krm(&w, &[(key, &ca)], &["run", "--once"]);
        assert_eq!(code, 2, "{key}: {text}");
        assert!(text.contains("ca-kaputt.pem"), "{text}");
    }
}

#[tokio::test]
async fn broken_rules_are_a_configuration_error_naming_only_the_broken_file() {
    let w = World::new("badrules").await;
    let dir = tempfile::tempdir().unwrap();
    let rules = copy_dir("rules", &dir.path().join("rules"));
    let senders = format!("{rules}/senders.toml");
    let mut text = std::fs::read_to_string(&senders).unwrap();
    text.push_str("\n[[rule]\n");
    std::fs::write(&senders, text).unwrap();
    let env = [("KRM_RULES_DIR", rules.as_str())];
    let (code, out) = krm(&w, &env, &["check"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("{senders}:")) && out.contains("ungültiges TOML"),
        "{out}"
    );
    // Warnings about the set as a whole would be wrong while a file does not parse.
    assert!(!out.contains("hints.toml"), "{out}");
    let (code, out) = krm(&w, &env, &["rules", "check", &rules]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("senders.toml") && !out.contains("hints.toml"),
        "{out}"
    );
    let (code, out) = krm(&w, &env, &["run", "--once"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("senders.toml"), "{out}");
    let eml = dir.path().join("a.eml");
    std::fs::write(&eml, "From: a@mail.test\n\nHallo\n").unwrap();
    let (code, out) = krm(
        &w,
        &env,
        &["explain", "--rules", &rules, &eml.display().to_string()],
    );
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn a_broken_template_is_a_configuration_error_naming_file_and_line() {
    let w = World::new("badtpl").await;
    let dir = tempfile::tempdir().unwrap();
    let tpl = copy_dir("templates", &dir.path().join("templates"));
    let ack = format!("{tpl}/ack.txt.j2");
    let mut text = std::fs::read_to_string(&ack).unwrap();
    text.push_str("{% if %}\n");
    std::fs::write(&ack, text).unwrap();
    let env = [("KRM_TEMPLATES_DIR", tpl.as_str())];
    let (code, out) = krm(&w, &env, &["check"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("Vorlage {ack}, Zeile ")), "{out}");
    let (code, out) = krm(&w, &env, &["digest", "--preview"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Vorlage ") && out.contains("ack.txt.j2"),
        "{out}"
    );
    let (code, out) = krm(&w, &env, &["run", "--once"]);
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn an_unset_database_url_is_a_configuration_error() {
    let w = World::new("nodburl").await;
    for args in [&["case", "list"][..], &["migrate"], &["run", "--once"]] {
        let (code, out) = krm(&w, &[("KRM_DATABASE_URL", "")], args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("database.url ist nicht gesetzt"), "{out}");
        assert!(out.contains("KRM_DATABASE_URL"), "{out}");
    }
}

#[tokio::test]
async fn a_missing_database_is_named_in_german_with_what_to_check() {
    let w = World::new("nodb").await;
    let base = w.db_url.rsplit_once('/').unwrap().0.to_string();
    let url = format!("{base}/krm_gibt_es_nicht?sslmode=disable");
    for args in [&["case", "list"][..], &["run", "--once"]] {
        let (code, out) = krm(&w, &[("KRM_DATABASE_URL", &url)], args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("„krm_gibt_es_nicht“ gibt es auf 127.0.0.1:5432 nicht"),
            "{out}"
        );
        assert!(out.contains("createdb"), "{out}");
        assert!(!out.contains("at line"), "{out}");
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_named_in_german() {
    let w = World::new("newerdb").await;
    // As if a later version had migrated this database.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (29991231000000, 'later', true, '\\x00', 0)",
    )
    .execute(&w.pool)
    .await
    .unwrap();
    for args in [&["case", "list"][..], &["migrate"]] {
        let (code, out) = krm(&w, &[], args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("Die Datenbank ist neuer als dieses Programm")
                && out.contains("Migration 29991231000000"),
            "{out}"
        );
        assert!(!out.contains("resolved migrations"), "{out}");
    }
}

#[tokio::test]
async fn no_server_on_the_port_fails_at_once_naming_host_and_port() {
    let w = World::new("closedport").await;
    // A port that was just free: bind, note the number, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://krm:pw-geheim@127.0.0.1:{port}/krm");
    let (code, out) = krm(&w, &[("KRM_DATABASE_URL", &url)], &["case", "list"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("Datenbank auf 127.0.0.1:{port}/krm")),
        "{out}"
    );
    assert!(out.contains("kein Server"), "{out}");
    assert!(
        !out.contains("pool timed out") && !out.contains("pw-geheim"),
        "{out}"
    );
}

#[tokio::test]
async fn a_bad_flag_value_is_exit_1_and_a_usage_error_exit_2() {
    let w = World::new("flags").await;
    let (code, out) = krm(&w, &[], &["case", "list", "--from", "25.11.2026"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("JJJJ-MM-TT"), "{out}");
    let (code, out) = krm(&w, &[], &["case", "list", "--gibt-es-nicht"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = krm(&w, &[], &["--help"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Vorgänge auflisten, zeigen und bearbeiten"),
        "{out}"
    );
    assert!(out.contains("Den Dienst starten"), "{out}");
}

/// The binary alone, no world needed: parsing fails or shows help before any setting is read.
fn krm_bare(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_krm-intake"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// clap's English ("error:", "Usage:", "Print help", …) must not reach the person.
fn assert_no_clap_english(text: &str) {
    for word in [
        "error:",
        "Usage:",
        "Options:",
        "Commands:",
        "Print help",
        "Print version",
        "[OPTIONS]",
        "For more information",
        "unexpected argument",
        "not provided",
        "invalid digit",
        "is not in",
    ] {
        assert!(!text.contains(word), "{word:?} in: {text}");
    }
}

#[test]
fn usage_errors_and_help_are_german() {
    let (code, out, err) = krm_bare(&["case", "list", "--bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("krm-intake: unbekannte Option „--bogus“\n"),
        "{err}"
    );
    assert!(
        err.contains("Aufruf: krm-intake case list [OPTIONEN]"),
        "{err}"
    );
    assert!(
        err.ends_with("Hilfe: krm-intake case list --help\n"),
        "{err}"
    );
    assert_no_clap_english(&err);

    let (code, _, err) = krm_bare(&["case", "show"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("krm-intake: es fehlt: <NUMMER>\n"), "{err}");
    assert_no_clap_english(&err);

    let (code, _, err) = krm_bare(&["gibt-es-nicht"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unbekannter Befehl „gibt-es-nicht“"), "{err}");
    assert_no_clap_english(&err);

    // A bad value stays exit 1 (README "Exit codes": a bad value for a flag), now in German.
    for (value, why) in [
        ("abc", "„abc“ ist keine ganze Zahl"),
        (
            "100000000000",
            "„100000000000“ liegt nicht im Bereich 0 bis 366",
        ),
        ("-1", "„-1“ liegt nicht im Bereich 0 bis 366"),
    ] {
        let (code, _, err) = krm_bare(&["case", "list", "--due-within", value]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "krm-intake: ungültiger Wert für „--due-within“: {why}\n"
            )),
            "{err}"
        );
        assert_no_clap_english(&err);
    }

    let (code, out, err) = krm_bare(&["--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(
        out.contains("Aufruf: krm-intake [OPTIONEN] <BEFEHL>"),
        "{out}"
    );
    assert!(
        out.contains("Befehle:") && out.contains("Optionen:"),
        "{out}"
    );
    assert!(out.contains("Hilfe anzeigen") && out.contains("Version anzeigen"));
    assert_no_clap_english(&out);

    let (code, out, _) = krm_bare(&["user", "add", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Mögliche Werte:"), "{out}");
    assert!(!out.contains("Works cases") && !out.contains("Manages accounts"));
    assert_no_clap_english(&out);

    let (code, out, _) = krm_bare(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("krm-intake "), "{out}");
}

#[tokio::test]
async fn log_lines_to_a_pipe_are_plain_text_and_plain_values() {
    let w = World::new("logplain").await;
    for format in ["text", "json"] {
        let raw = mail(
            CITIZEN,
            &w.inbox_address(),
            "Frage",
            "Guten Tag.",
            &format!("<log.{format}.{}@mail.test>", w.name),
        );
        w.deliver(CITIZEN, &raw).await;
        let env = [("KRM_LOG_LEVEL", "info"), ("KRM_LOG_FORMAT", format)];
        let (code, out) = krm(&w, &env, &["run", "--once"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("new case"), "{out}");
        assert!(!out.contains('\x1b'), "colour codes in a pipe: {out:?}");
        assert!(!out.contains("Some("), "{out}");
        if format == "text" {
            assert!(
                out.contains("ack=enqueued") && out.contains("case_id=1 "),
                "{out}"
            );
        } else {
            assert!(out.contains("\"ack\":\"enqueued\""), "{out}");
            assert!(out.contains("\"case_id\":2"), "{out}");
            assert!(!out.contains("\\\""), "doubled quotes: {out}");
        }
    }
}

/// A value too long for an index entry (SQLSTATE 54000, program limit exceeded) is the data's
/// fault, as a data exception is: a batch that hits it is redone mail by mail and only that mail
/// is quarantined, instead of the intake pausing for good.
#[tokio::test]
async fn a_value_too_long_for_an_index_is_a_data_error() {
    let w = World::new("limit54").await;
    let mut conn = w.pool.acquire().await.unwrap();
    sqlx::query("CREATE TEMP TABLE t (k text PRIMARY KEY)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO t SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i",
    )
    .execute(&mut *conn)
    .await
    .unwrap_err();
    let err = krm_intake::store::StoreError::from(err);
    assert_eq!(err.sqlstate().as_deref(), Some("54000"), "{err}");
    assert!(err.is_data_error());
}
