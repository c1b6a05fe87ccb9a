//! The binary's name, `--help` examples and shell completions.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dodo-dev"))
        .args(args)
        .output()
        .expect("run dodo-dev");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_command_shows_examples_under_its_own_name() {
    for cmd in ["emulator", "trigger", "listen", "fixtures", "completions"] {
        let (ok, out) = run(&[cmd, "--help"]);
        assert!(ok, "{cmd} --help");
        assert!(out.contains("Examples:"), "{cmd}: {out}");
        assert!(out.contains(&format!("dodo-dev {cmd}")), "{cmd}: {out}");
        assert!(
            !out.lines().any(|l| l.trim_start().starts_with("dodo ")),
            "no `dodo` binary in {cmd} --help"
        );
    }
    let (ok, out) = run(&["logs", "tail", "--help"]);
    assert!(
        ok && out.contains("Examples:") && out.contains("dodo-dev logs tail --method POST"),
        "{out}"
    );
    let (ok, out) = run(&["--help"]);
    assert!(ok);
    assert!(out.contains("Usage: dodo-dev"), "{out}");
    assert!(out.contains("Not the official Dodo CLI"), "{out}");
}

#[test]
fn completions_cover_subcommands_and_event_types() {
    let (ok, bash) = run(&["completions", "bash"]);
    assert!(ok);
    assert!(bash.contains("dodo-dev"), "{bash}");
    for word in [
        "emulator",
        "trigger",
        "listen",
        "fixtures",
        "payment.succeeded",
    ] {
        assert!(bash.contains(word), "bash completion knows {word}");
    }
    let (ok, zsh) = run(&["completions", "zsh"]);
    assert!(ok);
    assert!(zsh.starts_with("#compdef dodo-dev"), "{zsh}");
    let (ok, fish) = run(&["completions", "fish"]);
    assert!(ok);
    assert!(fish.contains("complete -c dodo-dev"), "{fish}");
    // A real bash accepts the script.
    let status = Command::new("bash")
        .args(["-c", &format!("{bash}\ncomplete -p dodo-dev")])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_and_successfully() {
    let bin = env!("CARGO_BIN_EXE_dodo-dev");
    for cmd in ["trigger --list", "completions bash"] {
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &format!("'{bin}' {cmd} | head -1")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd}: {stderr}");
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
}
