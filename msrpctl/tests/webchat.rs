//! The browser chat example in a real browser: Debian's Chromium, headless,
//! driven through the DevTools protocol, loads the page `msrpctl webchat` serves
//! for two browser members of a group, and a desk client over TCP chats with
//! them through the switch: public messages both ways, a nickname, private
//! messages each way, every body checked where it lands. Screenshots of both
//! pages are saved (`target/tmp/webchat-*.png`; the README's picture is one).
//!
//! `.ci/run` installs `chromium`; without it the test says it was skipped.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use control_api::pb;
use futures_util::{SinkExt, StreamExt};
use msrp_switch::codec::MsrpUri;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{
    ControlServer, Frame, LIMIT, Peer, TempDir, sdp_media, sdp_offer, start_ws_engine, switch_uri,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const CHROMIUM: &str = "/usr/bin/chromium";
const ROOM: &str = "sip:chat@example.com";
const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";
const CAROL_PATH: &str = "msrp://127.0.0.1:41003/carol003;tcp";

/// A DevTools protocol client on the browser's WebSocket: commands by id, to
/// the browser or (with a session id) to one page.
struct DevTools {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl DevTools {
    /// Sends `method` and returns its `result`, skipping events meanwhile.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        loop {
            let message = timeout(LIMIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("the browser's DevTools socket is open")
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == json!(id) {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page; the page's session id.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        attached["sessionId"].as_str().unwrap().to_owned()
    }

    /// The value of `expression` in the page.
    async fn eval(&mut self, page: &str, expression: &str) -> Value {
        self.try_eval(page, expression)
            .await
            .unwrap_or_else(|exception| panic!("{expression}: {exception}"))
    }

    /// The value of `expression` in the page, or the exception it threw.
    async fn try_eval(&mut self, page: &str, expression: &str) -> Result<Value, Value> {
        let result = self
            .call(
                Some(page),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        match result.get("exceptionDetails") {
            Some(exception) => Err(exception.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// Waits until `expression` is true in the page (it may throw while the
    /// page is still loading).
    async fn until(&mut self, page: &str, expression: &str) {
        let deadline = Instant::now() + LIMIT;
        while self.try_eval(page, expression).await != Ok(json!(true)) {
            if Instant::now() > deadline {
                let log = self.log(page).await;
                panic!("never true: {expression}; the page shows {log:?}");
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a line of the page's log reads `line` exactly (sender,
    /// tag and text run together as `textContent` gives them); `selector`
    /// narrows the lines (`li.private`).
    async fn shows(&mut self, page: &str, selector: &str, line: &str) {
        let expression = format!(
            "Array.from(document.querySelectorAll('#log {selector}'), li => li.textContent)\
             .includes({})",
            json!(line)
        );
        self.until(page, &expression).await;
    }

    /// The page's status line and its messages, one string per line of the log.
    async fn log(&mut self, page: &str) -> Vec<String> {
        let shown = self
            .eval(
                page,
                "[document.getElementById('status').textContent, \
                 ...Array.from(document.querySelectorAll('#log li'), li => li.textContent)]",
            )
            .await;
        serde_json::from_value(shown).unwrap()
    }

    /// Types `text` for `to` and presses Send.
    async fn say(&mut self, page: &str, to: &str, text: &str) {
        let script = format!(
            "document.getElementById('to').value = {}; \
             document.getElementById('text').value = {}; \
             document.getElementById('send').click(); true",
            json!(to),
            json!(text)
        );
        assert_eq!(self.eval(page, &script).await, json!(true));
    }

    /// A PNG of the page, written to `path`.
    async fn screenshot(&mut self, page: &str, path: &Path) {
        let shot = self
            .call(
                Some(page),
                "Page.captureScreenshot",
                json!({ "format": "png" }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}

/// Headless Chromium with its DevTools socket on an ephemeral port; killed
/// when dropped.
async fn chromium(profile: &Path) -> (Child, DevTools) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=720,560",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("ws://") {
                return line[at..].trim().to_owned();
            }
        }
        panic!("chromium ended without a DevTools URL");
    })
    .await
    .expect("chromium prints its DevTools URL");
    // The rest of its chatter (dbus, GPU) is read and dropped.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    (child, DevTools { ws, next_id: 0 })
}

/// A `message/cpim` body (RFC 3862) from the desk, with a text payload.
fn cpim(to: &str, text: &str) -> Vec<u8> {
    format!(
        "From: \"carol at the desk\" <{CAROL}>\r\nTo: <{to}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    )
    .into_bytes()
}

/// The desk's next message: answered 200, its body as text.
async fn desk_reads(desk: &mut Peer) -> String {
    let frame: Frame = desk.read_frame().await;
    assert_eq!(frame.method().as_deref(), Some("SEND"), "{frame:?}");
    desk.answer(&frame, "200 OK").await;
    String::from_utf8(frame.body).unwrap()
}

/// The desk sends `body` as one `message/cpim` chunk and gets its 200.
async fn desk_says(desk: &mut Peer, message_id: &str, body: &[u8]) {
    let tid = desk.next_tid();
    let frame = SendChunk {
        total: body.len(),
        content_type: "message/cpim",
        ..desk.chunk_head(&tid, message_id)
    }
    .encode(body);
    desk.write(&frame).await;
    let answer = desk.read_frame().await;
    assert_eq!((answer.tid(), answer.status()), (tid, Some(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_and_a_desk_chat_through_the_switch() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("skipped: {CHROMIUM} is not installed (.ci/run installs Debian's chromium)");
        return;
    }
    let engine = start_ws_engine();
    let control = ControlServer::start(&engine, None).await;

    // The helper makes the group and serves the page; its stdout names each
    // member's URL.
    let mut helper = Command::new(env!("CARGO_BIN_EXE_msrpctl"))
        .args(["--server", &control.url(), "webchat"])
        .args(["--room", ROOM, "--member", ALICE, "--member", BOB])
        .args(["--roster", CAROL, "--serve", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(helper.stdout.take().unwrap()).lines();
    let mut line = async || {
        timeout(LIMIT, out.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let session = line()
        .await
        .strip_prefix("session_id: ")
        .unwrap()
        .to_owned();
    let url_of = |line: String, who: &str| {
        line.strip_prefix(&format!("{who}: "))
            .unwrap_or_else(|| panic!("{who}'s URL, not {line:?}"))
            .to_owned()
    };
    let alice_url = url_of(line().await, ALICE);
    let bob_url = url_of(line().await, BOB);
    assert!(
        line()
            .await
            .starts_with("serving the page on http://127.0.0.1:")
    );

    // The desk joins the same group over TCP.
    let added = control
        .client()
        .await
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            identity: Some(pb::Identity {
                im_address: CAROL.to_owned(),
                privacy_alias: String::new(),
            }),
            remote: Some(sdp_media(
                sdp_offer(CAROL_PATH, "message/cpim") + "a=accept-wrapped-types:text/plain\r\n",
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let desk_uri = MsrpUri::parse(switch_uri(&added).into()).unwrap();
    let mut desk = Peer::connect(engine.local_addr(), CAROL_PATH, &desk_uri).await;
    desk.bind().await;

    let profile = TempDir::new("webchat-chromium");
    let (_browser, mut devtools) = chromium(profile.path()).await;
    let alice = devtools.open(&alice_url).await;
    let bob = devtools.open(&bob_url).await;
    for page in [&alice, &bob] {
        devtools
            .until(
                page,
                "document.getElementById('status').dataset.state === 'bound' && \
                 document.getElementById('log').textContent.includes('you are now known as')",
            )
            .await;
    }

    // Nicknames are unique in the room (RFC 7701 §8): Bob cannot take Alice's.
    let taken = "document.getElementById('nick').value = 'ALICE'; \
                 document.getElementById('setnick').click(); true";
    assert_eq!(devtools.eval(&bob, taken).await, json!(true));
    devtools
        .until(
            &bob,
            "document.getElementById('log').textContent\
             .includes('the nickname ALICE is taken (425)')",
        )
        .await;

    // Alice says hello to the room: the desk gets it, with her nickname as the
    // CPIM display name, and so does Bob's page.
    devtools
        .say(&alice, ROOM, "hello from alice's browser")
        .await;
    let got = desk_reads(&mut desk).await;
    assert!(
        got.starts_with(
            "From: \"alice\" <sip:alice@example.com>\r\nTo: <sip:chat@example.com>\r\n"
        ),
        "{got:?}"
    );
    assert!(
        got.ends_with("\r\n\r\nhello from alice's browser"),
        "{got:?}"
    );
    devtools
        .shows(&bob, "li", "alicehello from alice's browser")
        .await;
    // Her own copy shows the switch's 200.
    devtools
        .until(
            &alice,
            "document.querySelector('#log li.mine').dataset.status === '200'",
        )
        .await;

    // The desk answers the room: both pages show it.
    desk_says(
        &mut desk,
        "desk0001",
        &cpim(ROOM, "hello browsers, from the desk"),
    )
    .await;
    for page in [&alice, &bob] {
        devtools
            .shows(page, "li", "carol at the deskhello browsers, from the desk")
            .await;
    }

    // Bob answers the room from the other browser.
    devtools.say(&bob, ROOM, "hi both, bob here").await;
    assert!(
        desk_reads(&mut desk)
            .await
            .ends_with("\r\n\r\nhi both, bob here")
    );
    devtools.shows(&alice, "li", "bobhi both, bob here").await;

    // Bob whispers to the desk: only the desk gets it.
    devtools.say(&bob, CAROL, "just between us, carol").await;
    let got = desk_reads(&mut desk).await;
    assert!(got.contains("To: <sip:carol@example.com>\r\n"), "{got:?}");
    assert!(got.ends_with("just between us, carol"), "{got:?}");

    // The desk whispers back to Alice: her page marks it private, Bob's never
    // shows it.
    desk_says(&mut desk, "desk0002", &cpim(ALICE, "psst, alice")).await;
    devtools
        .shows(&alice, "li.private", "carol at the deskprivatepsst, alice")
        .await;
    // Bob's page has had time to show everything sent before; a last public
    // line from Alice arrives after the whisper would have.
    devtools.say(&alice, ROOM, "see you").await;
    assert!(desk_reads(&mut desk).await.ends_with("see you"));
    devtools
        .until(
            &bob,
            "document.getElementById('log').textContent.includes('see you')",
        )
        .await;
    let bob_log = devtools.log(&bob).await;
    let alice_log = devtools.log(&alice).await;
    assert!(
        !alice_log.iter().any(|line| line.contains("between us")),
        "{alice_log:?}"
    );
    assert!(
        !bob_log.iter().any(|line| line.contains("psst")),
        "{bob_log:?}"
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    devtools
        .screenshot(&alice, &shots.join("webchat-alice.png"))
        .await;
    devtools
        .screenshot(&bob, &shots.join("webchat-bob.png"))
        .await;
    eprintln!("screenshots: {}/webchat-{{alice,bob}}.png", shots.display());
}

/// Against a switch without a WebSocket listener the members cannot be added:
/// msrpctl says why (the switch's 488 reason) with exit 5, and leaves no
/// session behind.
#[tokio::test]
async fn without_a_websocket_listener_webchat_fails_and_leaves_nothing() {
    let engine = msrp_test_support::start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let run = Command::new(env!("CARGO_BIN_EXE_msrpctl"))
        .args(["--server", &control.url(), "webchat"])
        .args(["--member", ALICE, "--serve", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let run = timeout(LIMIT, run).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("WebSocket"), "{stderr}");
    assert!(stderr.contains("not enabled"), "{stderr}");
    let sessions = control
        .client()
        .await
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(sessions.sessions.is_empty(), "{sessions:?}");
}
