//! The floor: the least a WebSocket reverse proxy on tokio can do per connection, to put a
//! number on what tokio and the kernel cost before any proxy's own work
//! (docs/performance.md, "Fifteenth pass").
//!
//!   floor 127.0.0.1:9004 127.0.0.1:9001
//!   floor 127.0.0.1:9004 127.0.0.1:9001 --deadline 3600   # each session under a timer
//!
//! It checks nothing and parses nothing: it reads the client's bytes until the end of a
//! request head, opens TCP to the upstream and writes them there unchanged, reads the
//! upstream's bytes until the end of a response head and writes them to the client
//! unchanged, then relays whatever either side sends to the other until one of them
//! closes, and closes both (as nginx ends an upgraded connection). No log line, no metric,
//! no timer. It is not a proxy anyone should run (a non-101 answer, a request split oddly,
//! a slow peer, bytes left unread at the close: none is handled); it is the benchmark's
//! "proxy with no work of its own", measured beside nginx, HAProxy and wsgate.
//!
//! It uses the socket choices wsgate makes, so the floor is not raised by ones wsgate does
//! not pay: one current-thread runtime, `TCP_NODELAY` set on the listener (accepted
//! sockets inherit it), the upstream socket made non-blocking with `TCP_NODELAY` and
//! `TCP_QUICKACK` off before `connect(2)`, and the request written at once; one read
//! buffer per direction, never zeroed; no `shutdown(2)`, only the two `close(2)`s. It does
//! not have wsgate's close-with-FIN write, nor its allocator (glibc's malloc here).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest head read; a longer one ends the connection.
const MAX_HEAD: usize = 16 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: floor LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN_ADDR: ip:port");
    let upstream: SocketAddr = upstream.parse().expect("UPSTREAM_ADDR: ip:port");
    // `--deadline SECS`: every session runs under a tokio timer of that length, as every
    // real proxy's sessions do (handshake deadlines, idle timeouts): what timers cost.
    let deadline = match (args.next().as_deref(), args.next()) {
        (Some("--deadline"), Some(secs)) => Some(Duration::from_secs(
            secs.parse().expect("--deadline SECS: whole seconds"),
        )),
        (None, _) => None,
        _ => {
            eprintln!("usage: floor LISTEN_ADDR UPSTREAM_ADDR [--deadline SECS]");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = listener(listen).expect("listen");
        eprintln!("floor listening on {listen}, upstream {upstream}");
        loop {
            match listener.accept().await {
                Ok((client, _)) => {
                    tokio::spawn(async move {
                        match deadline {
                            Some(deadline) => {
                                let _ =
                                    tokio::time::timeout(deadline, session(client, upstream)).await;
                            }
                            None => {
                                let _ = session(client, upstream).await;
                            }
                        }
                    });
                }
                Err(error) => eprintln!("accept: {error}"),
            }
        }
    });
}

fn listener(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

async fn session(mut client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    let mut head = Vec::with_capacity(4096);
    read_head(&mut client, &mut head).await?;
    let mut server = dial(upstream, &head).await?;
    head.clear();
    read_head(&mut server, &mut head).await?;
    client.write_all(&head).await?;
    relay(&mut client, &mut server).await
}

/// Copies what either side sends to the other until one side closes (or fails); both are
/// then closed by the caller's drop.
async fn relay(client: &mut TcpStream, server: &mut TcpStream) -> io::Result<()> {
    let mut up = Vec::with_capacity(4096);
    let mut down = Vec::with_capacity(4096);
    loop {
        // Both reads are cancel-safe: the one not chosen has read nothing. `biased`: no
        // random draw per poll.
        tokio::select! {
            biased;
            read = client.read_buf(&mut up) => {
                if read? == 0 {
                    return Ok(());
                }
                server.write_all(&up).await?;
                up.clear();
            }
            read = server.read_buf(&mut down) => {
                if read? == 0 {
                    return Ok(());
                }
                client.write_all(&down).await?;
                down.clear();
            }
        }
    }
}

/// Reads until `buf` holds a whole head (`\r\n\r\n`); what follows it in the same read is
/// kept and forwarded with it.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(());
        }
        if buf.len() >= MAX_HEAD {
            return Err(io::Error::other("head too long"));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Opens TCP to `address` as wsgate's dial does and writes `request`.
async fn dial(address: SocketAddr, request: &[u8]) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    socket.set_tcp_quickack(false)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(error)
            if error.raw_os_error() == Some(libc::EINPROGRESS)
                || error.kind() == io::ErrorKind::WouldBlock => {}
        Err(error) => return Err(error),
    }
    let sent = match socket.send_with_flags(request, libc::MSG_NOSIGNAL) {
        Ok(sent) => sent,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
        Err(error) => return Err(error),
    };
    let mut stream = TcpStream::from_std(socket.into())?;
    if sent == 0 {
        stream.writable().await?;
        if let Some(error) = stream.take_error()? {
            return Err(error);
        }
    }
    stream.write_all(&request[sent..]).await?;
    Ok(stream)
}
