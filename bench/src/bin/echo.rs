//! The echo upstream: a tokio-tungstenite WebSocket server that sends every data message
//! back, on one thread (the benchmark pins it beside the proxy under test).
//!
//!   echo 127.0.0.1:9001
//!
//! Any path, any headers are accepted (wsgate's injected identity headers are ignored).

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        eprintln!("echo listening on {addr}");
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(session(stream));
                }
                Err(error) => {
                    eprintln!("accept: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
}

async fn session(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // Replies are queued and flushed once nothing more is already buffered, so a pipelined
    // burst costs one write, not one per message (the proxies under test coalesce too).
    while let Some(Ok(message)) = ws.next().await {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            if matches!(message, Message::Binary(_) | Message::Text(_))
                && ws.feed(message).await.is_err()
            {
                return;
            }
            // Pongs and the close reply are queued by tungstenite and written on the next
            // read or flush; the stream ends once the close handshake is done.
            if let Some(Some(Ok(message))) = ws.next().now_or_never() {
                next = Some(message);
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
