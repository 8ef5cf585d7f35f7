//! `deploy/Containerfile`, built here with podman (or buildah): its
//! `prebuilt` target from static binaries cargo builds for the test (the
//! default target builds the same binaries inside the Rust image, which this
//! machine cannot pull). Then the image is read back: entrypoint, user,
//! ports, stop signal and volume from its config; the binaries (static), the
//! config file and the spill directory from its files; and the daemon is
//! started from the image's root file system under `chroot` as the image's
//! user, and answers `/readyz`: what `podman run` would do, without the
//! namespaces this sandbox does not allow.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use msrp_test_support::TempDir;
use msrp_test_support::daemon::Daemon;
use serde_json::Value;
use tokio::time::timeout;

use super::{http_get, read, repo, run, skipped, succeed, tool};

/// Where the image puts the two binaries.
const DAEMON: &str = "usr/local/bin/msrp-switch";
const CLI: &str = "usr/local/bin/msrpctl";

/// The flags that make the two static binaries: the same as the
/// Containerfile's build stage (with `--target`, they reach the binaries'
/// crates only, not build scripts and proc-macros).
const STATIC_RUSTFLAGS: &str =
    "-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"";

/// podman, or buildah where podman is missing: the same build, different
/// commands to read an image back.
enum Builder {
    Podman(PathBuf),
    Buildah(PathBuf),
}

impl Builder {
    fn find() -> Option<Self> {
        tool("podman")
            .map(Self::Podman)
            .or_else(|| tool("buildah").map(Self::Buildah))
    }

    fn command(&self) -> Command {
        match self {
            Self::Podman(path) | Self::Buildah(path) => Command::new(path),
        }
    }

    /// The image's OCI config (`Entrypoint`, `User`, `ExposedPorts`, ...).
    fn config(&self, tag: &str) -> Value {
        match self {
            Self::Podman(_) => {
                let out = succeed(self.command().args(["image", "inspect", tag]));
                let mut images: Value = serde_json::from_str(&out).unwrap();
                images[0]["Config"].take()
            }
            Self::Buildah(_) => {
                let out = succeed(self.command().args(["inspect", "--type", "image", tag]));
                let mut image: Value = serde_json::from_str(&out).unwrap();
                image["OCIv1"]["config"].take()
            }
        }
    }

    /// The image's files, mounted until the guard is dropped.
    fn mount<'a>(&'a self, tag: &'a str) -> Mounted<'a> {
        let (root, container) = match self {
            Self::Podman(_) => (succeed(self.command().args(["image", "mount", tag])), None),
            Self::Buildah(_) => {
                let container = succeed(self.command().args(["from", "--pull-never", tag]));
                let container = container.trim().to_owned();
                let root = succeed(self.command().args(["mount", &container]));
                (root, Some(container))
            }
        };
        Mounted {
            builder: self,
            tag,
            container,
            root: PathBuf::from(root.trim()),
        }
    }
}

/// An image's mounted root file system.
struct Mounted<'a> {
    builder: &'a Builder,
    tag: &'a str,
    container: Option<String>,
    root: PathBuf,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        match &self.container {
            None => {
                let _ = run(self.builder.command().args(["image", "unmount", self.tag]));
            }
            Some(container) => {
                let _ = run(self.builder.command().args(["umount", container]));
                let _ = run(self.builder.command().args(["rm", container]));
            }
        }
    }
}

/// A tagged image, removed when dropped.
struct Image<'a> {
    builder: &'a Builder,
    tag: String,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = run(self.builder.command().args(["rmi", "--force", &self.tag]));
    }
}

/// Whether `builder` can build an image at all here (user namespaces,
/// storage): a one-file image from scratch. `Err` says why not.
fn can_build(builder: &Builder) -> Result<(), String> {
    let dir = TempDir::new("deploy-container-probe");
    dir.file("probe", "probe\n");
    dir.file("Containerfile", "FROM scratch\nCOPY probe /probe\n");
    let tag = format!("localhost/msrp-switch-probe:{}", std::process::id());
    let built = run(builder
        .command()
        .args(["build", "--quiet", "--layers=false", "-t", &tag])
        .arg(dir.path()));
    let _ = run(builder.command().args(["rmi", "--force", &tag]));
    if built.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&built.stderr).trim().to_owned())
    }
}

/// What can be checked without a builder: each stage the test and the
/// README use exists, and every file `COPY` takes from the build context
/// exists and is not left out by `.containerignore`.
fn check_build_context(containerfile: &str) {
    let stages: BTreeSet<&str> = containerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .filter_map(|line| line.split_once(" AS ").map(|(_, name)| name.trim()))
        .collect();
    for stage in ["build", "base", "prebuilt", "image"] {
        assert!(stages.contains(stage), "no stage {stage} in {stages:?}");
    }
    let last = containerfile
        .lines()
        .rfind(|line| line.starts_with("FROM "));
    assert_eq!(last, Some("FROM base AS image"), "the default target");
    let ignored: Vec<String> = read(".containerignore")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.trim_end_matches('/').to_owned())
        .collect();
    for line in containerfile.lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            let path = repo().join(source);
            assert!(path.exists(), "COPY {source}: no such file in the context");
            for pattern in &ignored {
                assert!(
                    !source.starts_with(pattern.as_str()) || *source == ".",
                    "COPY {source}: left out by .containerignore's {pattern}"
                );
            }
        }
    }
}

/// The directory of `msrp-switch` and `msrpctl` built static for this
/// machine (`target/container/<triple>/debug`): a build of its own, beside
/// the test's, as the Containerfile's build stage makes them.
fn static_binaries(triple: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target>/tmp")
        .join("container");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building static binaries in {}", target.display());
    succeed(
        Command::new(cargo)
            .current_dir(repo())
            .args(["build", "--locked", "--target", triple])
            .args(["-p", "msrp-switch", "-p", "msrpctl", "--bins"])
            .env("CARGO_TARGET_DIR", &target)
            // No debug info: a third of the size, a faster link.
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .env("RUSTFLAGS", STATIC_RUSTFLAGS)
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    );
    target.join(triple).join("debug")
}

/// Whether the ELF file at `path` asks for no program interpreter (no
/// `PT_INTERP`): a static binary, which runs on an empty root file system.
fn is_static(path: &Path) -> bool {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "{}", path.display());
    assert_eq!(elf[4], 2, "64-bit ELF");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]);
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    let table = usize::try_from(u64_at(0x20)).unwrap();
    let entry = usize::from(u16_at(0x36));
    let count = usize::from(u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).all(|i| {
        let at = table + i * entry;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) != PT_INTERP
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_holds_both_static_binaries_and_runs_the_daemon() {
    let containerfile = read("deploy/Containerfile");
    check_build_context(&containerfile);

    let Some(builder) = Builder::find() else {
        skipped(
            "the container image",
            "neither podman nor buildah is installed (apt-get install -y podman; \
             .ci/run does); checked the Containerfile's stages and build context only",
        );
        return;
    };
    if let Err(why) = can_build(&builder) {
        skipped(
            "the container image",
            &format!(
                "{} cannot build an image here ({why}); checked the Containerfile's \
                 stages and build context only",
                match builder {
                    Builder::Podman(_) => "podman",
                    Builder::Buildah(_) => "buildah",
                }
            ),
        );
        return;
    }
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        skipped(
            "the container image",
            "static binaries are built for linux-gnu only",
        );
        return;
    }
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let binaries = tokio::task::spawn_blocking(move || static_binaries(&triple))
        .await
        .unwrap();

    let image = Image {
        builder: &builder,
        tag: format!("localhost/msrp-switch-test:{}", std::process::id()),
    };
    succeed(
        builder
            .command()
            // No intermediate images left behind once the tag is removed.
            .args(["build", "--layers=false", "-f"])
            .arg(repo().join("deploy/Containerfile"))
            .args(["--target", "prebuilt", "--build-context"])
            .arg(format!("bin={}", binaries.display()))
            .args(["-t", &image.tag])
            .arg(repo()),
    );

    // The config: the daemon as entrypoint, run as nonroot, the ports.
    let config = builder.config(&image.tag);
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/msrp-switch"]),
        "{config:#}"
    );
    assert_eq!(config["User"], "65532:65532", "{config:#}");
    assert_eq!(config["StopSignal"], "SIGTERM", "{config:#}");
    assert_eq!(config["WorkingDir"], "/var/lib/msrp-switch", "{config:#}");
    assert!(
        config["Volumes"].get("/var/lib/msrp-switch").is_some(),
        "{config:#}"
    );
    for port in ["2855/tcp", "2856/tcp", "50051/tcp", "9464/tcp"] {
        assert!(
            config["ExposedPorts"].get(port).is_some(),
            "{port}: {config:#}"
        );
    }
    let env: Vec<String> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(
        env.contains(&"MSRP_SWITCH_CONFIG=/etc/msrp-switch/msrp-switch.toml".to_owned()),
        "{env:?}"
    );

    // The files: the two binaries as built, static; the config file, the
    // user, and the spill directory the user may write in.
    let mounted = builder.mount(&image.tag);
    let root = mounted.root.clone();
    for (inside, built) in [(DAEMON, "msrp-switch"), (CLI, "msrpctl")] {
        let file = root.join(inside);
        let meta = std::fs::metadata(&file).unwrap_or_else(|e| panic!("/{inside}: {e}"));
        assert_eq!(
            meta.len(),
            std::fs::metadata(binaries.join(built)).unwrap().len()
        );
        assert_eq!(meta.permissions().mode() & 0o755, 0o755, "/{inside}");
        assert_eq!(meta.uid(), 0, "/{inside} belongs to root");
        assert!(is_static(&file), "/{inside} is not static");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("etc/msrp-switch/msrp-switch.toml")).unwrap(),
        read("deploy/container/msrp-switch.toml")
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
    let spill = std::fs::metadata(root.join("var/lib/msrp-switch")).unwrap();
    assert!(spill.is_dir());
    assert_eq!((spill.uid(), spill.gid()), (65532, 65532));

    // Run from the image's files alone, as its user, with its environment.
    let Some(chroot) = tool("chroot") else {
        skipped(
            "running the image's daemon",
            "chroot (coreutils) is missing",
        );
        return;
    };
    let in_image = |program: &str| {
        let mut command = tokio::process::Command::new(&chroot);
        command
            .arg("--userspec=65532:65532")
            .arg(&root)
            .arg(program)
            .env_clear()
            .envs(env.iter().filter_map(|pair| pair.split_once('=')));
        command
    };
    let version = in_image("/usr/local/bin/msrpctl")
        .arg("--version")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&version.stderr);
    if said.contains("Operation not permitted") {
        skipped("running the image's daemon", &format!("chroot: {said}"));
        return;
    }
    assert!(
        version.status.success(),
        "msrpctl --version in the image: {said}"
    );
    // The image's settings, as the daemon reads them: the config file's
    // listeners on every address, the spill directory (which must exist),
    // the advertised host from the environment.
    let printed = in_image("/usr/local/bin/msrp-switch")
        .arg("--print-config")
        .env("MSRP_SWITCH_ADVERTISE_HOST", "192.0.2.10")
        .output()
        .await
        .unwrap();
    let effective = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.status.success(),
        "{effective}{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    for line in [
        "listen = \"0.0.0.0:2855\"",
        "tls_listen = \"0.0.0.0:2856\"",
        "control_listen = \"0.0.0.0:50051\"",
        "metrics_listen = \"0.0.0.0:9464\"",
        "advertise_host = \"192.0.2.10\"",
        "large_message_dir = \"/var/lib/msrp-switch\"",
        "pin_cores = false",
    ] {
        assert!(
            effective.lines().any(|l| l == line),
            "{line} in\n{effective}"
        );
    }
    // The daemon itself, on ephemeral loopback ports (the image's are fixed),
    // with the token a control API beyond loopback would need.
    let mut command = in_image("/usr/local/bin/msrp-switch");
    command
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .args([
            "--metrics-listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .args(["--shards", "1"])
        .env("RUST_LOG", "info")
        .env("MSRP_SWITCH_CONTROL_TOKEN", "image-test");
    let mut daemon = Daemon::start(command).await;
    assert_eq!(
        http_get(daemon.metrics, "/readyz").await.unwrap(),
        "ready\n"
    );
    let pid = daemon.child.id().and_then(|id| i32::try_from(id).ok());
    let pid = pid.and_then(rustix::process::Pid::from_raw).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = timeout(msrp_test_support::LIMIT, daemon.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    drop(mounted);
}
