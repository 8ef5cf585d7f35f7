// The MSRP (RFC 4975) and CPIM (RFC 3862) a chat page needs, without a library:
// frames are built as strings and parsed from the bytes of one WebSocket message
// (RFC 7977 §5.1: every MSRP frame is exactly one WebSocket message, so the
// end-line is at the end of the message and nothing needs buffering across
// messages). Pure functions, no DOM, no socket.
"use strict";

const Msrp = (() => {
  const encoder = new TextEncoder();
  const utf8 = new TextDecoder("utf-8");

  /** A random token of `n` characters from [a-z0-9] (transaction and message ids). */
  function token(n) {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    const random = new Uint8Array(n);
    crypto.getRandomValues(random);
    return Array.from(random, (b) => alphabet[b % alphabet.length]).join("");
  }

  /** Octets of `text` in UTF-8: Byte-Range counts octets, not characters. */
  function octets(text) {
    return encoder.encode(text).length;
  }

  /**
   * A SEND request (§7.1.1) carrying `body` whole in one chunk; an empty body
   * with no content type is the bodiless SEND that binds a connection (§5.4).
   */
  function send({ tid, toPath, fromPath, messageId, contentType, body, headers = [] }) {
    const lines = [`MSRP ${tid} SEND`, `To-Path: ${toPath}`, `From-Path: ${fromPath}`,
      `Message-ID: ${messageId}`];
    const length = body ? octets(body) : 0;
    lines.push(`Byte-Range: 1-${length}/${length}`, ...headers);
    if (!body) {
      return lines.join("\r\n") + `\r\n-------${tid}$\r\n`;
    }
    lines.push(`Content-Type: ${contentType}`);
    return lines.join("\r\n") + "\r\n\r\n" + body + `\r\n-------${tid}$\r\n`;
  }

  /** A NICKNAME request (RFC 7701 §8): the nickname is sent as a quoted string. */
  function nickname({ tid, toPath, fromPath, name }) {
    const quoted = '"' + name.replace(/[\\"]/g, (c) => "\\" + c) + '"';
    return `MSRP ${tid} NICKNAME\r\nTo-Path: ${toPath}\r\nFrom-Path: ${fromPath}\r\n` +
      `Use-Nickname: ${quoted}\r\n-------${tid}$\r\n`;
  }

  /**
   * A response (§7.2) to `request`: hop by hop, To-Path is the request's first
   * From-Path URI (the previous hop), From-Path is us.
   */
  function response(request, status, reason, me) {
    const previousHop = (request.headers.get("from-path") || "").split(/\s+/)[0];
    return `MSRP ${request.tid} ${status} ${reason}\r\nTo-Path: ${previousHop}\r\n` +
      `From-Path: ${me}\r\n-------${request.tid}$\r\n`;
  }

  function find(bytes, pattern, from, to) {
    outer: for (let i = from; i + pattern.length <= to; i++) {
      for (let j = 0; j < pattern.length; j++) {
        if (bytes[i + j] !== pattern[j]) continue outer;
      }
      return i;
    }
    return -1;
  }
  const CRLF = [13, 10];
  const BLANK = [13, 10, 13, 10];
  const ascii = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));

  /**
   * One frame from the bytes of one WebSocket message (a string for a text
   * message): { tid, method | status and reason, headers (lower-case names),
   * body (Uint8Array), flag ("$", "+" or "#") }. Throws on anything else.
   */
  function parse(data) {
    const bytes = typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
    const firstEnd = find(bytes, CRLF, 0, Math.min(bytes.length, 512));
    if (firstEnd < 0) throw new Error("no MSRP start line");
    const start = ascii(bytes, 0, firstEnd).split(" ");
    if (start[0] !== "MSRP" || start.length < 3) throw new Error("not an MSRP frame");
    const tid = start[1];
    // The end-line closes the message: "-------" tid flag CRLF.
    const endLine = `-------${tid}`;
    const flagAt = bytes.length - 3;
    const endAt = flagAt - endLine.length;
    if (endAt < firstEnd || ascii(bytes, endAt, flagAt) !== endLine ||
        bytes[bytes.length - 2] !== 13 || bytes[bytes.length - 1] !== 10) {
      throw new Error(`no end-line for transaction ${tid}`);
    }
    const flag = String.fromCharCode(bytes[flagAt]);
    const blank = find(bytes, BLANK, firstEnd, endAt);
    const headEnd = blank < 0 ? endAt : blank + 2;
    const headers = new Map();
    for (const line of utf8.decode(bytes.subarray(firstEnd + 2, headEnd)).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    // The body runs from after the blank line to the CRLF before the end-line.
    const body = blank < 0 ? new Uint8Array(0) : bytes.subarray(blank + 4, Math.max(blank + 4, endAt - 2));
    const frame = { tid, headers, body, flag };
    if (/^\d{3}$/.test(start[2])) {
      frame.status = Number(start[2]);
      frame.reason = start.slice(3).join(" ");
    } else {
      frame.method = start[2];
    }
    return frame;
  }

  /** `Byte-Range: start-end/total` as numbers (end and total NaN for `*`). */
  function byteRange(frame) {
    const match = /^(\d+)-(\d+|\*)\/(\d+|\*)$/.exec(frame.headers.get("byte-range") || "1-*/*");
    return match ? { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) } :
      { start: 1, end: NaN, total: NaN };
  }

  /** `Display Name <uri>` or `<uri>` into { name, uri }. */
  function address(value) {
    const match = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>\s*$/.exec(value || "");
    if (!match) return { name: "", uri: (value || "").trim() };
    return { name: (match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]) || "", uri: match[3] };
  }

  /** A message/cpim body (RFC 3862) with a text/plain payload. */
  function cpim({ from, fromName, to, text }) {
    const display = fromName ? '"' + fromName.replace(/[\\"]/g, (c) => "\\" + c) + '" ' : "";
    return `From: ${display}<${from}>\r\nTo: <${to}>\r\nDateTime: ${new Date().toISOString()}\r\n\r\n` +
      `Content-Type: text/plain;charset=UTF-8\r\n\r\n${text}`;
  }

  /** The CPIM headers, the encapsulated content type and the payload's text. */
  function parseCpim(bytes) {
    const text = utf8.decode(bytes);
    const first = text.indexOf("\r\n\r\n");
    const second = first < 0 ? -1 : text.indexOf("\r\n\r\n", first + 4);
    if (second < 0) throw new Error("not a CPIM body");
    const headers = new Map();
    for (const line of text.slice(0, first).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const mime = /content-type:\s*([^;\r\n]+)/i.exec(text.slice(first + 4, second));
    return {
      from: address(headers.get("From")),
      to: address(headers.get("To")),
      contentType: mime ? mime[1].trim().toLowerCase() : "text/plain",
      payload: text.slice(second + 4),
    };
  }

  return { token, send, nickname, response, parse, byteRange, address, cpim, parseCpim, utf8 };
})();
