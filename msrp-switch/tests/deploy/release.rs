//! Release notes come from CHANGELOG.md (`deploy/release/notes.sh`).

use std::process::Command;

use super::repo;

fn notes(version: &str) -> std::process::Output {
    Command::new(repo().join("deploy/release/notes.sh"))
        .arg(version)
        .output()
        .expect("run deploy/release/notes.sh")
}

#[test]
fn release_notes_are_a_changelog_section_alone() {
    let out = notes("Unreleased");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("## Unreleased"));
    assert!(text.contains("\n### Added\n"), "{text}");
    assert!(
        !lines.any(|line| line.starts_with("## ")),
        "one section only:\n{text}"
    );
    let changelog = std::fs::read_to_string(repo().join("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&text),
        "the section as the CHANGELOG has it"
    );
}

#[test]
fn a_version_the_changelog_lacks_fails_saying_so() {
    let out = notes("9.9.9");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no section for 9.9.9"),
        "{out:?}"
    );
}
