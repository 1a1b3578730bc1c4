//! A real `redis-server` (Debian's package) on a free loopback port, started by the test
//! with persistence off, killed and restarted on the same port at will; and [`Link`], a
//! TCP forwarder between one replica and Redis that a test can cut and heal, to play a
//! network partition. A missing `redis-server` fails the test: it is installed by
//! `.ci/run`.

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{closed_port_addr, eventually};

pub(crate) struct RedisServer {
    addr: SocketAddr,
    child: Option<Child>,
}

impl RedisServer {
    pub(crate) async fn start() -> RedisServer {
        let mut server = RedisServer {
            addr: closed_port_addr(),
            child: None,
        };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SIGKILL, and waits until the port refuses connections.
    pub(crate) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts (again) on the same port, empty, and waits until it answers PING.
    pub(crate) async fn restart(&mut self) {
        self.kill().await;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.addr.port().to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-server ({error}): install it (apt-get install -y redis-server)")
            });
        self.child = Some(child);
        let addr = self.addr;
        eventually("redis-server to answer PING", || async move {
            ping(addr).await.then_some(())
        })
        .await;
    }
}

async fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).await.is_ok() && &reply == b"+PONG\r\n"
}

/// A cuttable TCP path from one replica to Redis.
pub(crate) struct Link {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    pub(crate) async fn to(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind link");
        let addr = listener.local_addr().expect("link addr");
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if *cut_rx.borrow() {
                    drop(client);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    tokio::select! {
                        _ = copy => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Link { addr, cut, task }
    }

    /// `redis://` through the link.
    pub(crate) fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every connection through the link and refuses new ones.
    pub(crate) fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub(crate) fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}
