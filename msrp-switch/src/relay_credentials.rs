//! The RFC 4976 relay's credentials file (`--relay-credentials`): read at start,
//! where a bad file stops the daemon naming the flag, the path and the line, and
//! again on SIGHUP, where a bad file leaves the credentials in force.

use msrp_proto::relay::Credentials;

/// Reads `path`; the error names the flag, the file and what is wrong.
pub fn read(path: &str) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("--relay-credentials {path}: cannot read it: {err}"))?;
    Credentials::parse(&text).map_err(|err| format!("--relay-credentials {path}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_flag_the_file_and_the_line() {
        let dir = std::env::temp_dir().join(format!("relay-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "# users\nalice:r:0123\n").unwrap();
        let path = path.to_string_lossy().into_owned();
        let err = read(&path).unwrap_err();
        assert!(
            err.starts_with(&format!("--relay-credentials {path}: line 2:")),
            "{err}"
        );
        let missing = read("/nonexistent/users").unwrap_err();
        assert!(missing.contains("cannot read it"), "{missing}");
        std::fs::write(&path, format!("alice:r:{}\n", "a".repeat(32))).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }
}
