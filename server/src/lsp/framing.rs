//! The transport guard: the only reader of standard input and the only writer of standard output.
//!
//! tower-lsp-server ends the session at the first message it cannot decode: its framed reader
//! stops after an error. So the guard reads the client's frames itself and passes tower-lsp-server
//! only messages it is sure to accept, over an in-memory pipe, re-framed with a plain
//! `Content-Length` header. Everything else gets a JSON-RPC error reply from the guard and is
//! skipped: `-32700 Parse error` (id `null`) for a body that is not JSON and for bytes that do not
//! frame a message (no or a bad `Content-Length`, a line that is no header), `-32600 Invalid
//! Request` for JSON that is not a JSON-RPC message (with the request's id when it has one).
//! After bytes that do not frame a message, the guard looks for the next `Content-Length:` header,
//! buffering at most a header line's worth of them; a body is buffered up to its declared length,
//! which may not exceed [`MAX_BODY`].
//!
//! The server's output comes back over a second pipe and is copied to standard output a whole
//! frame at a time by one writer task, so the guard's replies never land inside a server frame.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, Id};

/// The largest body accepted; a larger declared `Content-Length` is rejected without allocating.
pub(crate) const MAX_BODY: usize = 1 << 30;
/// A header line longer than this is not a header: the bytes are skipped as garbage.
const MAX_HEADER_LINE: usize = 8 * 1024;
const PIPE_CAPACITY: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Where a frame can start again after garbage (matched without regard to case).
const CONTENT_LENGTH: &[u8] = b"content-length:";

/// Runs `serve` (tower-lsp-server's `Server::serve`) on two in-memory pipes, input and output,
/// with the guard between them and the real `stdin` and `stdout`. Returns when `serve` does, after
/// everything the server wrote has reached `stdout`. The end of `stdin` (or an error reading it)
/// ends the server's input and calls `input_ended`, so that the caller can stop what is queued.
pub(crate) async fn guard<I, O, S, F>(
    stdin: I,
    stdout: O,
    input_ended: impl FnOnce() + Send + 'static,
    serve: S,
) where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
    S: FnOnce(DuplexStream, DuplexStream) -> F,
    F: Future<Output = ()>,
{
    let (to_server, server_input) = tokio::io::duplex(PIPE_CAPACITY);
    let (server_output, from_server) = tokio::io::duplex(PIPE_CAPACITY);
    let (bodies, outgoing) = mpsc::channel(16);
    let replies = bodies.clone();
    let reader = tokio::spawn(async move {
        if read_client(stdin, to_server, replies).await == Input::Ended {
            input_ended();
        }
    });
    let pump = tokio::spawn(pump_server(from_server, bodies));
    let writer = tokio::spawn(write_client(outgoing, stdout));
    serve(server_input, server_output).await;
    // After `exit` the client may keep standard input open; nothing more is read.
    reader.abort();
    let _ = reader.await;
    // The server's end of the output pipe is closed: the pump stops after its last frame, and
    // the writer once both senders are gone and every body is written.
    let _ = pump.await;
    let _ = writer.await;
}

/// Why [`read_client`] stopped.
#[derive(Debug, PartialEq)]
enum Input {
    /// Standard input ended or could not be read.
    Ended,
    /// The server stopped reading (after `exit`).
    Closed,
}

/// Reads the client's frames, forwards the well-formed messages to the server and sends a reply
/// for each rejected one to the writer.
async fn read_client<I: AsyncRead + Unpin>(
    mut stdin: I,
    mut server: DuplexStream,
    replies: mpsc::Sender<Vec<u8>>,
) -> Input {
    let mut decoder = Decoder::new(Checks::JsonRpc);
    let mut chunk = vec![0; READ_CHUNK];
    loop {
        while let Some(frame) = decoder.next_frame() {
            match frame {
                Frame::Message(body) => {
                    let header = header(body.len());
                    if server.write_all(header.as_bytes()).await.is_err()
                        || server.write_all(&body).await.is_err()
                    {
                        return Input::Closed;
                    }
                }
                Frame::Rejected(rejection) => {
                    tracing::warn!("rejected a message from the client: {}", rejection.reason);
                    if replies.send(rejection.reply()).await.is_err() {
                        return Input::Closed;
                    }
                }
            }
        }
        match stdin.read(&mut chunk).await {
            Ok(0) => {
                if decoder.pending() > 0 {
                    tracing::warn!(
                        "standard input ended inside a message ({} bytes dropped)",
                        decoder.pending()
                    );
                }
                return Input::Ended;
            }
            Ok(read) => decoder.push(&chunk[..read]),
            Err(error) => {
                tracing::error!("cannot read standard input: {error}");
                return Input::Ended;
            }
        }
    }
}

/// Reads the server's frames and hands their bodies to the writer one whole frame at a time.
async fn pump_server(mut from_server: DuplexStream, bodies: mpsc::Sender<Vec<u8>>) {
    let mut decoder = Decoder::new(Checks::None);
    let mut chunk = vec![0; READ_CHUNK];
    loop {
        while let Some(frame) = decoder.next_frame() {
            match frame {
                // A failed send means the writer is gone; reading on keeps the server unblocked.
                Frame::Message(body) => drop(bodies.send(body).await),
                Frame::Rejected(rejection) => {
                    tracing::error!("bad frame from the server: {}", rejection.reason);
                }
            }
        }
        match from_server.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => decoder.push(&chunk[..read]),
        }
    }
}

/// Owns standard output: writes each body as one frame, and flushes when nothing else is queued.
async fn write_client<O: AsyncWrite + Unpin>(mut bodies: mpsc::Receiver<Vec<u8>>, mut stdout: O) {
    let mut broken = false;
    while let Some(body) = bodies.recv().await {
        if broken {
            continue; // Drained, so that nobody waits on a client that is gone.
        }
        let header = header(body.len());
        let mut written = stdout.write_all(header.as_bytes()).await;
        if written.is_ok() {
            written = stdout.write_all(&body).await;
        }
        if written.is_ok() && bodies.is_empty() {
            written = stdout.flush().await;
        }
        if let Err(error) = written {
            tracing::error!("cannot write to standard output: {error}");
            broken = true;
        }
    }
    if !broken {
        let _ = stdout.flush().await;
    }
}

fn header(length: usize) -> String {
    format!("Content-Length: {length}\r\n\r\n")
}

/// What [`Decoder::next_frame`] found.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    /// The body of a message to pass on.
    Message(Vec<u8>),
    /// Bytes that are not a message, with the reply they get.
    Rejected(Rejection),
}

/// Whether a body is checked to be a JSON-RPC message tower-lsp-server accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Checks {
    /// The client's input: anything tower-lsp-server would choke on is rejected here.
    JsonRpc,
    /// The server's own output: bodies are passed on as they are.
    None,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Rejection {
    pub kind: RejectionKind,
    /// The id to answer with: the request's, or `null`.
    pub id: Value,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RejectionKind {
    /// `-32700`: not JSON, or no frame around it.
    Parse,
    /// `-32600`: JSON, but not a JSON-RPC message.
    InvalidRequest,
}

impl Rejection {
    fn parse(reason: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::Parse,
            id: Value::Null,
            reason: reason.into(),
        }
    }

    fn invalid(id: Value, reason: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::InvalidRequest,
            id,
            reason: reason.into(),
        }
    }

    /// The JSON-RPC error response, as a body.
    pub(crate) fn reply(&self) -> Vec<u8> {
        let (code, message) = match self.kind {
            RejectionKind::Parse => (-32700, "Parse error"),
            RejectionKind::InvalidRequest => (-32600, "Invalid Request"),
        };
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": code, "message": message, "data": self.reason},
        })
        .to_string()
        .into_bytes()
    }
}

/// Splits a byte stream into LSP frames: header lines (`Content-Length` read without regard to
/// case, other headers ignored), a blank line, then exactly `Content-Length` bytes of body. Lines
/// may end in `\r\n` or `\n`. Bytes that do not frame a message are rejected once per run and
/// skipped up to the next `Content-Length:`; a rejected header block's body is skipped the same
/// way, without a second rejection.
pub(crate) struct Decoder {
    checks: Checks,
    buffer: Vec<u8>,
    /// How much of `buffer` is consumed.
    start: usize,
    state: State,
    /// The current header block.
    block: Block,
    /// Garbage is being skipped and was already rejected.
    skipping: bool,
    ready: VecDeque<Frame>,
}

enum State {
    Headers,
    Body(usize),
}

#[derive(Default)]
struct Block {
    headers: usize,
    length: Option<Result<usize, String>>,
}

impl Decoder {
    pub(crate) fn new(checks: Checks) -> Decoder {
        Decoder {
            checks,
            buffer: Vec::new(),
            start: 0,
            state: State::Headers,
            block: Block::default(),
            skipping: false,
            ready: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received and not yet framed.
    pub(crate) fn pending(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next frame the bytes pushed so far complete, if any.
    pub(crate) fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            match self.state {
                State::Body(length) => {
                    if self.pending() < length {
                        return None;
                    }
                    self.state = State::Headers;
                    return Some(self.body(length));
                }
                State::Headers => {
                    if !self.header_line() {
                        return None;
                    }
                }
            }
        }
    }

    fn body(&mut self, length: usize) -> Frame {
        // `start` is 0 (the buffer was compacted when the body began): no copy of the body.
        let rest = self.buffer.split_off(self.start + length);
        let mut body = std::mem::replace(&mut self.buffer, rest);
        body.drain(..self.start);
        self.start = 0;
        if self.checks == Checks::None {
            return Frame::Message(body);
        }
        match check(&body) {
            Ok(()) => Frame::Message(body),
            Err(rejection) => {
                // A body that is not JSON may be a frame that is off: what follows it could be
                // the rest of that body, which is not worth a second rejection.
                self.skipping = rejection.kind == RejectionKind::Parse;
                Frame::Rejected(rejection)
            }
        }
    }

    /// Reads one header line; false when more bytes are needed first.
    fn header_line(&mut self) -> bool {
        let pending = &self.buffer[self.start..];
        let Some(end) = pending.iter().position(|&byte| byte == b'\n') else {
            if pending.len() <= MAX_HEADER_LINE {
                return false;
            }
            // Too long for a header: skip it, keeping what could begin a `Content-Length:`.
            let skip = find_content_length(&pending[1..])
                .map_or(pending.len() + 1 - CONTENT_LENGTH.len(), |at| at + 1);
            self.start += skip;
            self.garbage("a line too long for a header");
            return true;
        };
        let line = pending[..end]
            .strip_suffix(b"\r")
            .unwrap_or(&pending[..end]);
        if line.is_empty() {
            self.start += end + 1;
            self.end_of_block();
            return true;
        }
        if let Some(at) = find_content_length(&line[1..]) {
            // Bytes run into a frame's header: a body longer than declared, or garbage.
            let reason = format!("{} before a header", excerpt(&line[..at + 1]));
            self.start += at + 1;
            self.garbage(&reason);
            return true;
        }
        match parse_header(line) {
            Some(header) => {
                self.start += end + 1;
                self.block.headers += 1;
                if let Header::ContentLength(length) = header {
                    self.block.length = match self.block.length.take() {
                        Some(Ok(previous)) if length != Ok(previous) => {
                            Some(Err("two different Content-Length headers".to_owned()))
                        }
                        Some(Err(reason)) => Some(Err(reason)),
                        _ => Some(length),
                    };
                }
            }
            None => {
                let reason = format!("a line that is not a header: {}", excerpt(line));
                self.start += end + 1;
                self.garbage(&reason);
            }
        }
        true
    }

    fn end_of_block(&mut self) {
        let block = std::mem::take(&mut self.block);
        if block.headers == 0 {
            return; // A blank line between messages.
        }
        match block.length {
            None => self.reject_frame("a header block without Content-Length".to_owned()),
            Some(Err(reason)) => self.reject_frame(reason),
            Some(Ok(length)) => {
                self.skipping = false;
                self.compact();
                self.buffer
                    .reserve_exact(length.saturating_sub(self.buffer.len()) + READ_CHUNK);
                self.state = State::Body(length);
            }
        }
    }

    /// Rejects a header block; its body, if one follows, is skipped as garbage.
    fn reject_frame(&mut self, reason: String) {
        self.ready
            .push_back(Frame::Rejected(Rejection::parse(reason)));
        self.skipping = true;
    }

    /// Bytes outside any frame: the header block they interrupt is dropped, and the first of a
    /// run is rejected.
    fn garbage(&mut self, reason: &str) {
        self.block = Block::default();
        if !self.skipping {
            self.ready
                .push_back(Frame::Rejected(Rejection::parse(format!(
                    "bytes outside a message ({reason})"
                ))));
            self.skipping = true;
        }
    }

    fn compact(&mut self) {
        self.buffer.drain(..self.start);
        self.start = 0;
    }
}

enum Header {
    ContentLength(Result<usize, String>),
    Other,
}

/// `name: value` with an HTTP token as its name; `None` when the line is not a header.
fn parse_header(line: &[u8]) -> Option<Header> {
    let colon = line.iter().position(|&byte| byte == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let token = |byte: &u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(byte);
    if name.is_empty() || !name.iter().all(token) {
        return None;
    }
    if !name.eq_ignore_ascii_case(b"content-length") {
        return Some(Header::Other);
    }
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Some(Header::ContentLength(Err(format!(
            "a Content-Length that is not a number: {}",
            excerpt(value)
        ))));
    }
    let length = std::str::from_utf8(value)
        .ok()
        .and_then(|digits| digits.parse::<usize>().ok())
        .filter(|&length| length <= MAX_BODY);
    Some(Header::ContentLength(length.ok_or_else(|| {
        format!(
            "a Content-Length of {} bytes, over the limit of {MAX_BODY}",
            excerpt(value)
        )
    })))
}

/// Where `content-length:` starts in `bytes`, without regard to case.
fn find_content_length(bytes: &[u8]) -> Option<usize> {
    let last = bytes.len().checked_sub(CONTENT_LENGTH.len())?;
    (0..=last).find(|&at| {
        bytes[at] | 0x20 == b'c'
            && bytes[at..at + CONTENT_LENGTH.len()].eq_ignore_ascii_case(CONTENT_LENGTH)
    })
}

fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

/// Accepts a body when tower-lsp-server will decode it as a JSON-RPC message, which it then
/// answers itself; anything it would fail on is rejected.
///
/// tower-lsp-server reads a body as `Response` or else `Request` through serde's buffered
/// `Content`, which reads every value in full (strings unescaped, nesting limited). Here the body
/// is read the same way once without keeping anything ([`AnyValue`]), then its members are
/// checked with tower-lsp-server's own `Id` and `Error` types ([`Envelope`]). What passes both
/// decodes as one of the two. Arrays (JSON-RPC batches, which LSP does not use, and which serde
/// would read as a struct's fields in order) are rejected.
fn check(body: &[u8]) -> Result<(), Rejection> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Rejection::parse("the body is not UTF-8"));
    };
    if let Err(error) = serde_json::from_str::<AnyValue>(text) {
        return Err(Rejection::parse(format!("the body is not JSON: {error}")));
    }
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(Rejection::invalid(
            Value::Null,
            "the body is not a JSON object",
        ));
    }
    let envelope = match serde_json::from_str::<Envelope>(text) {
        Ok(envelope) => envelope,
        Err(error) => return Err(Rejection::invalid(request_id(text), error.to_string())),
    };
    envelope.check()
}

/// The members of a JSON-RPC message that tower-lsp-server reads; others are ignored, as there.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Id>,
    #[serde(default, deserialize_with = "present")]
    #[allow(dead_code)] // Read only to see that it is there once.
    params: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    result: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Error>,
}

impl Envelope {
    fn check(&self) -> Result<(), Rejection> {
        // Only a request's id is worth answering with: a response's is the client's own request.
        let id = match (&self.method, &self.id) {
            (Some(_), Some(id)) => id_value(id),
            _ => Value::Null,
        };
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(Rejection::invalid(id, "\"jsonrpc\" is not \"2.0\""));
        }
        let responds = self.result.is_some() || self.error.is_some();
        match (&self.method, responds) {
            (Some(_), true) => Err(Rejection::invalid(
                id,
                "both a method and a result or error",
            )),
            (Some(_), false) => Ok(()),
            (None, true) if self.id.is_none() => {
                Err(Rejection::invalid(id, "a response without an id"))
            }
            (None, true) if self.result.is_some() && self.error.is_some() => Err(
                Rejection::invalid(id, "a response with both a result and an error"),
            ),
            (None, true) => Ok(()),
            (None, false) => Err(Rejection::invalid(
                id,
                "neither a method nor a result or error",
            )),
        }
    }
}

/// The id of a request that did not read as one: answered with, when it is a valid id.
fn request_id(text: &str) -> Value {
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(text) else {
        return Value::Null;
    };
    if !members.contains_key("method") {
        return Value::Null;
    }
    match members.get("id").cloned().map(serde_json::from_value::<Id>) {
        Some(Ok(id)) => id_value(&id),
        _ => Value::Null,
    }
}

fn id_value(id: &Id) -> Value {
    match id {
        Id::Number(number) => Value::from(*number),
        Id::String(string) => Value::from(string.as_str()),
        Id::Null => Value::Null,
    }
}

/// A member that is there, even as `null` (which `Option` alone reads as absent).
fn present<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Any JSON value, read in full and dropped: as strict as reading it into a `Value` (strings
/// unescaped, nesting limited), unlike `IgnoredAny`, which skips without those checks.
struct AnyValue;

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AnyValue, D::Error> {
        deserializer.deserialize_any(AnyValueVisitor)
    }
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_i64<E>(self, _: i64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_u64<E>(self, _: u64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_f64<E>(self, _: f64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_str<E>(self, _: &str) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_unit<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        while seq.next_element::<AnyValue>()?.is_some() {}
        Ok(AnyValue)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        while map.next_entry::<AnyValue, AnyValue>()?.is_some() {}
        Ok(AnyValue)
    }
}

#[cfg(test)]
mod tests {
    use tower_lsp_server::jsonrpc::{Request, Response};

    use super::*;

    /// tower-lsp-server's own (crate-private) reading of a message, copied.
    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Message {
        Response(Response),
        Request(Request),
    }

    /// One line per frame: `message <body>`, or the error code, reply id and reason.
    fn render(frames: &[Frame]) -> String {
        let mut rendered = String::new();
        for frame in frames {
            let line = match frame {
                Frame::Message(body) => format!("message {}", String::from_utf8_lossy(body)),
                Frame::Rejected(rejection) => {
                    let code = match rejection.kind {
                        RejectionKind::Parse => -32700,
                        RejectionKind::InvalidRequest => -32600,
                    };
                    format!("{code} {}: {}", rejection.id, rejection.reason)
                }
            };
            rendered.push_str(&line);
            rendered.push('\n');
        }
        rendered
    }

    fn decode(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut decoder = Decoder::new(Checks::JsonRpc);
        let mut frames = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(frame) = decoder.next_frame() {
                frames.push(frame);
            }
        }
        frames
    }

    /// Decodes `input` whole, split in two at every byte and one byte at a time: always the same
    /// frames, and each accepted body is one tower-lsp-server decodes.
    fn check(input: &str, expected: &str) {
        let input = input.as_bytes();
        let frames = decode(&[input]);
        let rendered = render(&frames);
        let expected: String = expected
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(
            rendered,
            expected,
            "input: {:?}",
            String::from_utf8_lossy(input)
        );
        for split in 0..input.len() {
            let (head, tail) = input.split_at(split);
            assert_eq!(render(&decode(&[head, tail])), rendered, "split at {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(render(&decode(&bytes)), rendered, "byte by byte");
        for frame in &frames {
            if let Frame::Message(body) = frame {
                let text = std::str::from_utf8(body).unwrap();
                assert!(
                    serde_json::from_str::<Message>(text).is_ok(),
                    "accepted, but tower-lsp-server cannot decode it: {text}"
                );
            }
        }
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    #[test]
    fn good_frames() {
        check(
            &frame(PING),
            r#"message {"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        );
        check(
            &format!(
                "content-length: 40\nContent-Type: application/vscode-jsonrpc; charset=utf-8\n\n{PING}\r\n{}{}",
                frame(r#"{"jsonrpc":"2.0","method":"note","params":[1]}"#),
                frame(r#"{"jsonrpc":"2.0","id":"s","result":null}"#),
            ),
            r#"
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            message {"jsonrpc":"2.0","method":"note","params":[1]}
            message {"jsonrpc":"2.0","id":"s","result":null}
            "#,
        );
        check(
            &frame(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#),
            r#"message {"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#,
        );
    }

    #[test]
    fn bad_json_is_a_parse_error() {
        check(
            &format!(
                "{}{}",
                frame(r#"{"jsonrpc":"2.0","id":9,"method":"#),
                frame(PING)
            ),
            r#"
            -32700 null: the body is not JSON: EOF while parsing a value at line 1 column 33
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &frame(""),
            "-32700 null: the body is not JSON: EOF while parsing a value at line 1 column 0",
        );
        check(
            "Content-Length: 3\r\n\r\n\"\u{80}",
            "-32700 null: the body is not JSON: EOF while parsing a string at line 1 column 3",
        );
        check(
            "Content-Length: 2\r\n\r\n\u{80}",
            "-32700 null: the body is not JSON: expected value at line 1 column 1",
        );
        // What tower-lsp-server would read in full and fail on, even in a member it ignores.
        let deep = format!(
            r#"{{"jsonrpc":"2.0","method":"x","junk":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        check(
            &frame(&deep),
            "-32700 null: the body is not JSON: recursion limit exceeded at line 1 column 164",
        );
        // tower-lsp-server fails on it too (and would end the session), though `junk` is ignored.
        assert!(serde_json::from_str::<Message>(&deep).is_err());
        check(
            &frame(r#"{"jsonrpc":"2.0","method":"x","junk":"\ud800"}"#),
            "-32700 null: the body is not JSON: unexpected end of hex escape at line 1 column 45",
        );
    }

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let mut input = b"Content-Length: 3\r\n\r\n\"\xff\"".to_vec();
        input.extend_from_slice(frame(PING).as_bytes());
        let frames = decode(&[&input]);
        assert_eq!(
            render(&frames),
            "-32700 null: the body is not UTF-8\nmessage {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
        );
    }

    #[test]
    fn json_that_is_no_message_is_an_invalid_request() {
        let bodies = [
            "[]",
            "42",
            r#"{"jsonrpc":"2.0"}"#,
            r#"{"id":7,"method":3}"#,
            r#"{"id":"seven","method":null}"#,
            r#"{"jsonrpc":"1.0","id":8,"method":"x"}"#,
            r#"{"id":8,"method":"x"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#,
            r#"["2.0","exit"]"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"x","method":"y"}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"x","result":1}"#,
            r#"{"jsonrpc":"2.0","result":1}"#,
            r#"{"jsonrpc":"2.0","id":5,"result":1,"error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":6,"error":{"code":1,"message":"m","extra":0}}"#,
            r#"{"jsonrpc":"2.0","id":6,"error":null}"#,
        ];
        let input: String = bodies.iter().map(|body| frame(body)).collect();
        check(
            &format!("{input}{}", frame(PING)),
            r#"
            -32600 null: the body is not a JSON object
            -32600 null: the body is not a JSON object
            -32600 null: neither a method nor a result or error
            -32600 7: invalid type: integer `3`, expected a string at line 1 column 18
            -32600 null: "jsonrpc" is not "2.0"
            -32600 8: "jsonrpc" is not "2.0"
            -32600 8: "jsonrpc" is not "2.0"
            -32600 null: the body is not a JSON object
            -32600 null: the body is not a JSON object
            -32600 null: data did not match any variant of untagged enum Id at line 1 column 25
            -32600 null: data did not match any variant of untagged enum Id at line 1 column 24
            -32600 3: duplicate field `method` at line 1 column 45
            -32600 4: both a method and a result or error
            -32600 null: a response without an id
            -32600 null: a response with both a result and an error
            -32600 null: unknown field `extra`, expected one of `code`, `message`, `data` at line 1 column 63
            -32600 null: invalid type: null, expected struct Error at line 1 column 36
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
    }

    #[test]
    fn a_header_block_without_content_length_is_skipped_with_its_body() {
        check(
            &format!(
                "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}\r\n\r\n{}",
                r#"{"jsonrpc":"2.0","id":98,"method":"shutdown"}"#,
                frame(PING)
            ),
            r#"
            -32700 null: a header block without Content-Length
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        // The body runs straight into the next frame's header.
        check(
            &format!("X-Thing: 1\r\n\r\n{{\"a\":1}}{}", frame(PING)),
            r#"
            -32700 null: a header block without Content-Length
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
    }

    #[test]
    fn bad_content_lengths_are_skipped_with_their_bodies() {
        check(
            &format!("Content-Length: abc\r\n\r\n{PING}\r\n{}", frame(PING)),
            r#"
            -32700 null: a Content-Length that is not a number: "abc"
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &format!("Content-Length: -5\r\n\r\n{PING}{}", frame(PING)),
            r#"
            -32700 null: a Content-Length that is not a number: "-5"
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &format!(
                "Content-Length: 40\r\nContent-Length: 41\r\n\r\n{PING}{}",
                frame(PING)
            ),
            r#"
            -32700 null: two different Content-Length headers
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &format!("Content-Length: 40\r\nContent-Length: 40\r\n\r\n{PING}"),
            r#"message {"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        );
    }

    #[test]
    fn a_huge_declared_length_is_rejected_not_allocated() {
        check(
            &format!("Content-Length: 1073741825\r\n\r\n{PING}{}", frame(PING)),
            r#"
            -32700 null: a Content-Length of "1073741825" bytes, over the limit of 1073741824
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &format!(
                "Content-Length: 99999999999999999999999999\r\n\r\n{}",
                frame(PING)
            ),
            r#"
            -32700 null: a Content-Length of "99999999999999999999999999" bytes, over the limit of 1073741824
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        let mut decoder = Decoder::new(Checks::JsonRpc);
        decoder.push(b"Content-Length: 1073741825\r\n\r\n");
        assert!(matches!(decoder.next_frame(), Some(Frame::Rejected(_))));
        assert!(decoder.buffer.capacity() < 1 << 20);
    }

    #[test]
    fn garbage_is_rejected_once_and_skipped_to_the_next_frame() {
        check(
            &format!("hello\r\nworld\r\n\r\nxx{}", frame(PING)),
            r#"
            -32700 null: bytes outside a message (a line that is not a header: "hello")
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(
            &format!(
                "Content-Length: 40\r\n{{oops}}\r\n\r\n{PING}{}",
                frame(PING)
            ),
            r#"
            -32700 null: bytes outside a message (a line that is not a header: "{oops}")
            message {"jsonrpc":"2.0","id":1,"method":"ping"}
            "#,
        );
        check(&"\r\n".repeat(3), "");
    }

    #[test]
    fn a_long_line_is_skipped_in_bounded_memory() {
        let mut decoder = Decoder::new(Checks::JsonRpc);
        let mut frames = Vec::new();
        let garbage = [b'x'; 1000];
        for _ in 0..1000 {
            decoder.push(&garbage);
            frames.extend(std::iter::from_fn(|| decoder.next_frame()));
            assert!(decoder.pending() <= MAX_HEADER_LINE + garbage.len());
        }
        // A header split across pushes, right after the garbage.
        decoder.push(b"xxxCONTENT-LEN");
        decoder.push(format!("GTH: {}\r\n\r\n{PING}", PING.len()).as_bytes());
        frames.extend(std::iter::from_fn(|| decoder.next_frame()));
        assert_eq!(
            render(&frames),
            "-32700 null: bytes outside a message (a line too long for a header)\n\
             message {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
        );
    }

    #[test]
    fn a_large_body_arrives_in_pieces() {
        let body = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":"{}"}}"#,
            "a".repeat(1 << 20)
        );
        let input = format!("{}{}", frame(&body), frame(PING));
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(READ_CHUNK).collect();
        let frames = decode(&chunks);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], Frame::Message(body.into_bytes()));
        assert_eq!(frames[1], Frame::Message(PING.as_bytes().to_vec()));
    }

    #[test]
    fn the_servers_frames_are_not_checked() {
        let mut decoder = Decoder::new(Checks::None);
        decoder.push(frame("not json").as_bytes());
        assert_eq!(
            decoder.next_frame(),
            Some(Frame::Message(b"not json".to_vec()))
        );
    }

    #[test]
    fn replies_are_json_rpc_errors() {
        let reply = Rejection::invalid(Value::from(7), "why").reply();
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            r#"{"error":{"code":-32600,"data":"why","message":"Invalid Request"},"id":7,"jsonrpc":"2.0"}"#
        );
    }

    /// The whole guard around an echo server: good messages pass and come back as whole frames,
    /// a bad one is answered by the guard, and the end of input ends the server.
    #[tokio::test]
    async fn the_guard_answers_bad_messages_and_passes_the_rest() {
        let (mut client, stdin) = tokio::io::duplex(1024);
        let (stdout, mut client_output) = tokio::io::duplex(1024);
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"big","params":"{}"}}"#,
            "b".repeat(100_000)
        );
        let input = format!("{}{}{}", frame(PING), frame("{"), frame(&big));
        let writing = tokio::spawn(async move {
            client.write_all(input.as_bytes()).await.unwrap();
        });
        let (ended, input_ended) = tokio::sync::oneshot::channel();
        let guarded = tokio::spawn(guard(
            stdin,
            stdout,
            move || {
                let _ = ended.send(());
            },
            |mut input, mut output| async move {
                tokio::io::copy(&mut input, &mut output).await.unwrap();
            },
        ));
        let mut output = Vec::new();
        client_output.read_to_end(&mut output).await.unwrap();
        writing.await.unwrap();
        guarded.await.unwrap();
        input_ended.await.expect("the end of input is reported");
        let mut decoder = Decoder::new(Checks::None);
        decoder.push(&output);
        let mut bodies: Vec<String> = std::iter::from_fn(|| decoder.next_frame())
            .map(|frame| match frame {
                Frame::Message(body) => String::from_utf8(body).unwrap(),
                Frame::Rejected(rejection) => panic!("{rejection:?}"),
            })
            .collect();
        assert_eq!(decoder.pending(), 0);
        bodies.sort();
        assert_eq!(bodies.len(), 3);
        assert!(
            bodies[0].starts_with(r#"{"error":{"code":-32700"#),
            "{}",
            bodies[0]
        );
        assert_eq!(bodies[1], PING);
        assert_eq!(bodies[2], big);
    }
}
