// The fuzz input files a replay test reads, shared by every replay test
// (`include!`d like the harnesses, so the crates need no common dependency).
// Plain `//` comments only: an included file cannot carry inner docs.

/// Every regular file in `fuzz_dir/<dir>` but dot-files (such as `.gitkeep`),
/// sorted, with its bytes.
pub fn inputs_in(
    fuzz_dir: &std::path::Path,
    dir: &str,
) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = fuzz_dir.join(dir);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}
