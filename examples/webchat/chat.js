// One member of a group chat through msrp-switch, over MSRP on WebSocket.
//
// The page's query (what `msrpctl webchat` prints) says:
//   ws      the switch's WebSocket URL           ws://127.0.0.1:2857/
//   to      the switch's MSRP URI for us (To-Path) msrp://127.0.0.1:2857/abc;ws
//   from    our own MSRP URI (From-Path)          msrp://x7.invalid:9/def;ws
//   me      our identity, the CPIM From           sip:alice@example.com
//   room    the chat room's URI, the CPIM To      sip:chat@example.com
//   roster  the other members, comma separated   (private messages go to one)
//   nick    a nickname to ask for after binding  (optional)
//
// The connection (RFC 7977): open the WebSocket with subprotocol "msrp", bind
// with a bodiless SEND (RFC 4975 §5.4), then every frame is one WebSocket
// message. We answer each SEND 200 unless its Failure-Report says otherwise,
// put incoming chunks together by Message-ID, and show each whole message.
"use strict";

(() => {
  const query = new URLSearchParams(location.search);
  const cfg = {
    ws: query.get("ws") || "",
    to: query.get("to") || "",
    from: query.get("from") || "",
    me: query.get("me") || "",
    room: query.get("room") || "",
    roster: (query.get("roster") || "").split(",").map((s) => s.trim()).filter((s) => s && s !== query.get("me")),
    nick: query.get("nick") || "",
  };

  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const status = $("status");
  /** Requests we sent that await their response, by transaction id. */
  const pending = new Map();
  /** Messages arriving in several chunks, by Message-ID: the chunks so far. */
  const partial = new Map();
  let socket = null;
  let myNickname = "";

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function show({ from, text, kind = "", privateTo = "", state = "" }) {
    const item = document.createElement("li");
    if (kind) item.className = kind;
    if (privateTo) item.classList.add("private");
    if (from) {
      const name = document.createElement("span");
      name.className = "from";
      name.textContent = from;
      item.append(name);
    }
    if (privateTo) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = `private${privateTo === true ? "" : " to " + privateTo}`;
      item.append(tag);
    }
    item.append(document.createTextNode(text));
    const stateNode = document.createElement("span");
    stateNode.className = "state";
    stateNode.textContent = state;
    item.append(stateNode);
    log.append(item);
    item.scrollIntoView({ block: "end" });
    return stateNode;
  }

  function notice(text) {
    show({ text, kind: "notice" });
  }

  /** Sends `frame` and calls `then(response)` when its response comes back. */
  function request(tid, frame, then) {
    pending.set(tid, then);
    socket.send(frame);
  }

  function onRequest(frame) {
    if (frame.method === "SEND") {
      const failureReport = (frame.headers.get("failure-report") || "yes").toLowerCase();
      if (failureReport === "yes") socket.send(Msrp.response(frame, 200, "OK", cfg.from));
      receiveChunk(frame);
    } else if (frame.method === "REPORT") {
      // Reports need no answer (RFC 4975 §7.1.2); we ask for none.
    } else {
      socket.send(Msrp.response(frame, 501, "Unknown method", cfg.from));
    }
  }

  function receiveChunk(frame) {
    const id = frame.headers.get("message-id") || "";
    const chunks = partial.get(id) || [];
    chunks.push(frame.body);
    if (frame.flag === "+") {
      partial.set(id, chunks);
      return;
    }
    partial.delete(id);
    if (frame.flag === "#") {
      notice("a message was interrupted by its sender");
      return;
    }
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (whole.set(c, at), at + c.length), 0);
    if (whole.length === 0) return;
    const type = (frame.headers.get("content-type") || "").toLowerCase();
    if (!type.startsWith("message/cpim")) {
      show({ from: "?", text: Msrp.utf8.decode(whole) });
      return;
    }
    try {
      const message = Msrp.parseCpim(whole);
      const isPrivate = message.to.uri && cfg.room && message.to.uri.toLowerCase() !== cfg.room.toLowerCase();
      const text = message.contentType.startsWith("text/") ? message.payload : `[${message.contentType}]`;
      show({ from: message.from.name || message.from.uri, text, privateTo: isPrivate });
    } catch (err) {
      notice(`an unreadable message: ${err.message}`);
    }
  }

  function onMessage(event) {
    let frame;
    try {
      frame = Msrp.parse(event.data);
    } catch (err) {
      notice(`dropped a frame: ${err.message}`);
      return;
    }
    if (frame.method) {
      onRequest(frame);
      return;
    }
    const then = pending.get(frame.tid);
    pending.delete(frame.tid);
    if (then) then(frame);
  }

  function bind() {
    const tid = Msrp.token(10);
    const frame = Msrp.send({ tid, toPath: cfg.to, fromPath: cfg.from, messageId: Msrp.token(12) });
    request(tid, frame, (answer) => {
      if (answer.status !== 200) {
        setStatus("error", `the switch refused the bind: ${answer.status} ${answer.reason}`);
        return;
      }
      setStatus("bound", `connected to ${cfg.room || "the session"}`);
      if (cfg.nick) askNickname(cfg.nick);
    });
  }

  function askNickname(name) {
    const tid = Msrp.token(10);
    request(tid, Msrp.nickname({ tid, toPath: cfg.to, fromPath: cfg.from, name }), (answer) => {
      if (answer.status === 200) {
        myNickname = name;
        $("nick").value = name;
        notice(`you are now known as ${name}`);
      } else {
        $("nick").value = myNickname;
        notice(answer.status === 425 ? `the nickname ${name} is taken (425)` :
          `nickname ${name} refused: ${answer.status} ${answer.reason}`);
      }
    });
  }

  function sendText(text, to) {
    const tid = Msrp.token(10);
    const body = Msrp.cpim({ from: cfg.me, fromName: myNickname, to, text });
    const privateTo = to === cfg.room ? "" : to;
    const state = show({ from: myNickname || "me", text, kind: "mine", privateTo, state: "sending" });
    const frame = Msrp.send({
      tid, toPath: cfg.to, fromPath: cfg.from, messageId: Msrp.token(12),
      contentType: "message/cpim", body, headers: ["Success-Report: no"],
    });
    request(tid, frame, (answer) => {
      state.textContent = answer.status === 200 ? "✓" : `${answer.status} ${answer.reason}`;
      state.parentElement.dataset.status = String(answer.status);
    });
  }

  function start() {
    $("who").textContent = `${cfg.me} in ${cfg.room}`;
    const options = [[cfg.room, "everyone"], ...cfg.roster.map((uri) => [uri, `${uri} (private)`])];
    for (const [value, label] of options) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      $("to").append(option);
    }
    $("send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("text").value;
      if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
      sendText(text, $("to").value);
      $("text").value = "";
    });
    $("nickname-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("nick").value.trim();
      if (name && socket && socket.readyState === WebSocket.OPEN) askNickname(name);
    });
    if (!cfg.ws || !cfg.to || !cfg.from || !cfg.me) {
      setStatus("error", "the page's query needs ws, to, from and me (msrpctl webchat prints such URLs)");
      return;
    }
    socket = new WebSocket(cfg.ws, "msrp");
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", bind);
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", (event) =>
      setStatus("error", `disconnected (${event.code}${event.reason ? " " + event.reason : ""})`));
  }

  start();
})();
