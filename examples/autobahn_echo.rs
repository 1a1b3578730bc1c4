//! Echo upstream for the Autobahn conformance run (`tests/autobahn/run.py`).
//!
//! A plain tokio-tungstenite echo server, the same shape as tokio-tungstenite's own
//! `autobahn-server` example: text and binary messages are echoed back, tungstenite
//! validates framing and UTF-8 and answers pings and closes. It is itself Autobahn-clean,
//! so whatever differs when wsgate sits in front of it is wsgate's doing.
//!
//! Limits are raised above tungstenite's defaults (16 MiB frame / 64 MiB message) so the
//! 9.x big-message cases are echoed rather than refused. No permessage-deflate:
//! tungstenite 0.30 does not implement it, so the 12.x/13.x cases come out
//! UNIMPLEMENTED, both direct and through wsgate.
//!
//! When tungstenite rejects a frame it returns an error without writing anything: the
//! plain example then drops the TCP connection, which RFC 6455 allows (§7.1.7) but which
//! carries no close code. Two modes:
//!
//! - `close` (default): like most production servers, send the RFC's close code first
//!   (1002 protocol error, 1007 invalid UTF-8, 1009 too big), then wait (bounded) for the
//!   peer's close and drop the connection.
//! - `drop`: tokio-tungstenite's `autobahn-server` example exactly: drop the connection.
//!
//! Usage: `autobahn_echo [ADDR] [close|drop]` (default `127.0.0.1:0 close`); prints
//! `listening on ADDR` on stdout once bound, then serves until killed.

use std::io::Write;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

const MAX_FRAME: usize = 16 << 20;
const MAX_MESSAGE: usize = 64 << 20;

/// How long to wait for the peer's close reply after sending a close on an error.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

async fn serve(stream: TcpStream, send_close: bool) {
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_MESSAGE));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let error = loop {
        match ws.next().await {
            None => return,
            Some(Ok(message)) => {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    return;
                }
            }
            Some(Err(error)) => break error,
        }
    };
    let code = match error {
        Error::Protocol(_) => CloseCode::Protocol,
        Error::Utf8(_) => CloseCode::Invalid,
        Error::Capacity(_) => CloseCode::Size,
        _ => return,
    };
    if !send_close {
        return;
    }
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let send_close = match args.next().as_deref() {
        None | Some("close") => true,
        Some("drop") => false,
        Some(other) => {
            eprintln!("unknown mode {other:?}: expected close or drop");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(&addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, send_close));
    }
}
