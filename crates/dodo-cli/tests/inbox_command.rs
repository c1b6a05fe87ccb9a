//! `dodo-dev inbox list|replay` end to end against a fresh SQLite inbox database.

use std::process::Command;

fn dodo_dev(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args(args)
        .env_remove("DODO_INBOX_DATABASE_URL")
        .output()
        .expect("run dodo-dev");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lists_an_empty_inbox_and_rejects_replaying_an_unknown_delivery() {
    let dir = std::env::temp_dir().join(format!("dodo-cli-inbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("inbox.db").display());

    let (ok, stdout, stderr) = dodo_dev(&["inbox", "list", "--database-url", &url]);
    assert!(ok, "list failed: {stderr}");
    assert!(stdout.contains("WEBHOOK ID"), "header printed: {stdout}");
    assert_eq!(stdout.lines().count(), 1, "no deliveries yet: {stdout}");

    let (ok, _, stderr) = dodo_dev(&["inbox", "replay", "--database-url", &url, "msg_missing"]);
    assert!(!ok, "replaying an unknown id must fail");
    assert!(
        stderr.contains("msg_missing"),
        "the error names the id: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
