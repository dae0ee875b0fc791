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
    assert!(err.contains("IMAP login"), "{err}");
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
    assert!(err.to_lowercase().contains("database"), "{err}");
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
    assert!(err.contains("digest.within_working_days"), "{err}");

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
    assert!(err.contains("krm.toml") && err.contains("line 1"), "{err}");
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
