//! The floor: the least a WebSocket reverse proxy on tokio can do per connection, to put a
//! number on what tokio and the kernel cost before any proxy's own work
//! (docs/performance.md, "Fifteenth pass").
//!
//!   floor 127.0.0.1:9004 127.0.0.1:9001
//!
//! It checks nothing and parses nothing: it reads the client's bytes until the end of a
//! request head, opens TCP to the upstream and writes them there unchanged, reads the
//! upstream's bytes until the end of a response head and writes them to the client
//! unchanged, then relays both ways with `tokio::io::copy_bidirectional` until both ends
//! close. No log line, no metric, no timer. It is not a proxy anyone should run (a non-101
//! answer, a request split oddly, a slow peer: none is handled); it is the benchmark's
//! "proxy with no work of its own", measured beside nginx, HAProxy and wsgate.
//!
//! It uses the socket choices wsgate makes, so the floor is not raised by ones wsgate does
//! not pay: one current-thread runtime, `TCP_NODELAY` set on the listener (accepted
//! sockets inherit it), the upstream socket made non-blocking with `TCP_NODELAY` and
//! `TCP_QUICKACK` off before `connect(2)`, and the request written at once. It does not
//! have wsgate's close-with-FIN write: `copy_bidirectional` shuts a side down after its
//! last write, as nginx does.

use std::io;
use std::net::SocketAddr;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = listener(listen).expect("listen");
        eprintln!("floor listening on {listen}, upstream {upstream}");
        loop {
            match listener.accept().await {
                Ok((client, _)) => {
                    tokio::spawn(async move {
                        let _ = session(client, upstream).await;
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
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
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
