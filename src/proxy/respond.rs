//! A refusal in the configured deny mode: the HTTP answer (`deny = "status"`), or wsgate's
//! own 101 and then a close frame carrying the reason (`deny = "close"`, for browsers,
//! which cannot read a refused handshake's status). The close-mode session sends its
//! close, discards the client's frames until the reply, and never touches the upstream.

use http::header::HeaderValue;
use http::{HeaderMap, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::answer::Answer;
use super::{Body, CLOSE_TIMEOUT, ClientConn, Proxy};
use crate::auth::Gate;
use crate::auth::token::offered_protocols;
use crate::config::DenyMode;
use crate::domain::refusal::Refusal;
use crate::ws::close::CloseFrame;
use crate::ws::frame::{self, Header, MAX_HEADER, Malformed, OPCODE_CLOSE};
use crate::ws::handshake::WebSocketRequest;

/// A refusal as the configured deny mode gives it.
pub(super) enum DenyAnswer {
    /// The HTTP answer with the reason code (`deny = "status"`, or not an upgrade).
    Status(Answer),
    /// `deny = "close"` on an upgrade: wsgate's own 101, then a close frame carrying the
    /// reason ([`close_upgraded`]).
    Close(Answer),
}

impl DenyAnswer {
    pub(super) fn new(
        gate: &Gate,
        websocket: Option<&WebSocketRequest>,
        headers: &HeaderMap,
        reason: Refusal,
    ) -> DenyAnswer {
        match websocket {
            Some(ws) if gate.config().auth.deny == DenyMode::Close => {
                let protocol = close_mode_protocol(gate, headers);
                DenyAnswer::Close(Answer::switching_protocols(ws, protocol, None, None))
            }
            _ => DenyAnswer::Status(Answer::denial(reason)),
        }
    }
}

impl Proxy {
    /// hyper's path: the refusal in the configured deny mode, with a close-mode session
    /// queued on the client connection for when hyper hands the stream over.
    pub(super) fn refuse(
        &self,
        gate: &Gate,
        websocket: Option<&WebSocketRequest>,
        headers: &HeaderMap,
        on_upgrade: hyper::upgrade::OnUpgrade,
        reason: Refusal,
        conn: &ClientConn,
    ) -> Response<Body> {
        match DenyAnswer::new(gate, websocket, headers, reason) {
            DenyAnswer::Status(answer) => answer.into_response(),
            DenyAnswer::Close(switching) => {
                let slot = conn.slot.clone();
                conn.run_after_upgrade(self.sessions.track_future(async move {
                    close_after_upgrade(on_upgrade, reason).await;
                    drop(slot);
                }));
                switching.into_response()
            }
        }
    }
}

/// In close mode a browser only sees the close if the 101 names one of its offers.
fn close_mode_protocol(gate: &Gate, headers: &HeaderMap) -> Option<HeaderValue> {
    super::open::marker_offered(gate, headers).or_else(|| {
        offered_protocols(headers)
            .next()
            .and_then(|p| HeaderValue::from_str(p).ok())
    })
}

/// `deny = "close"`: after wsgate's own 101, send the close, discard the client's frames
/// until its close reply (or the timeout), then close TCP. The upstream is never touched.
async fn close_after_upgrade(on_upgrade: hyper::upgrade::OnUpgrade, reason: Refusal) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    close_upgraded(TokioIo::new(upgraded), reason).await;
}

/// [`close_after_upgrade`] on a connection whose 101 has been written.
pub(super) async fn close_upgraded<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, reason: Refusal) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close_and_wait(&mut io, reason)).await;
    let _ = io.shutdown().await;
}

async fn close_and_wait<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, reason: Refusal) {
    let frame = CloseFrame::new(reason.close_code(), reason.as_str(), false);
    if io.write_all(frame.as_bytes()).await.is_err() || io.flush().await.is_err() {
        return;
    }
    let _ = discard_until_close(io).await;
}

/// Reads frames, skipping payloads, until a close frame or EOF.
async fn discard_until_close<S: AsyncRead + Unpin>(io: &mut S) -> std::io::Result<()> {
    let mut header = [0u8; MAX_HEADER];
    let mut scratch = [0u8; 4096];
    loop {
        io.read_exact(&mut header[..2]).await?;
        let len = frame::header_len(header[1]);
        io.read_exact(&mut header[2..len]).await?;
        let (opcode, mut length) = match Header::parse(&header[..len]) {
            Ok(Some(header)) => (header.opcode, header.payload_len),
            // A length with its top bit set is never followed by its payload: what comes
            // next is skipped until EOF (or the caller's timeout).
            Ok(None) | Err(Malformed) => (frame::opcode(header[0]), u64::MAX),
        };
        if opcode == OPCODE_CLOSE {
            return Ok(());
        }
        while length > 0 {
            let chunk = length.min(scratch.len() as u64) as usize;
            let n = io.read(&mut scratch[..chunk]).await?;
            if n == 0 {
                return Ok(());
            }
            length -= n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn discard_stops_at_the_clients_close() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        // A masked text frame, then a masked close.
        let mut bytes = vec![0x81, 0x83, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2, b'c' ^ 3];
        bytes.extend_from_slice(&[0x88, 0x80, 9, 9, 9, 9]);
        b.write_all(&bytes).await.unwrap();
        discard_until_close(&mut a).await.unwrap();
    }
}
