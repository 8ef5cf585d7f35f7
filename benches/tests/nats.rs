//! `msrp-flood nats` against Debian's nats-server (`.ci/run` installs it; the
//! test says SKIPPED without it): every message published reaches every
//! subscriber whole, and the report counts them.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use msrp_benches::flood::nats::{self, NatsConfig};

/// A nats-server on a free loopback port, stopped (by its PID) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Option<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Server { child, port });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_message_reaches_every_subscriber() {
    let Some(server) = start() else {
        eprintln!("SKIPPED: nats-server is not installed (apt-get install -y nats-server)");
        return;
    };
    let report = nats::run(NatsConfig {
        addr: ([127, 0, 0, 1], server.port).into(),
        subscribers: 5,
        size: 1024,
        window: 16,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(300),
        pid: Some(server.child.id()),
    })
    .await
    .unwrap();
    assert_eq!(report.bad_payloads, 0);
    assert!(report.published > 0, "{report:?}");
    // Each message goes to all five; those of the last window may still be on
    // their way when the count is read, and the first may have been counted
    // before the measurement began.
    let expected = report.published * 5;
    let slack = 16 * 5 * 2;
    assert!(
        report.deliveries + slack >= expected && report.deliveries <= expected + slack,
        "{report:?}"
    );
    assert!(
        report.server_cpu_seconds.is_some_and(|cpu| cpu > 0.0),
        "{report:?}"
    );
}
