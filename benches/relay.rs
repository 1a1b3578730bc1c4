//! The frame-aware relay (`wsgate::relay::relay`) over in-memory streams
//! (`tokio::io::duplex`): the scanner, the buffer handling and the poll loop, without
//! sockets. Each iteration writes 256 KiB of masked client frames of one size into the
//! client end and reads them, verbatim, from the upstream end; the other direction is
//! measured with unmasked upstream frames. One session lives for the whole benchmark.
//!
//!   cargo bench --bench relay
//!
//! Timings are never asserted; `cargo test --all-targets` runs each benchmark once.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::sync::CancellationToken;

use wsgate::relay::{Extensions, RelaySettings, relay};
use wsgate::telemetry::metrics::RelayCounters;

const BATCH_BYTES: usize = 256 * 1024;
/// Each duplex pipe holds this much before its writer waits (a socket buffer stand-in).
const PIPE_BYTES: usize = 64 * 1024;

/// `count` binary frames with `size`-byte payloads, masked (client to upstream) or not.
fn frames(size: usize, masked: bool) -> Vec<u8> {
    let count = (BATCH_BYTES / size).max(1);
    let mut out = Vec::with_capacity(count * (size + 14));
    for _ in 0..count {
        out.push(0x82); // FIN, binary
        let mask_bit = if masked { 0x80 } else { 0 };
        match size {
            0..=125 => out.push(mask_bit | size as u8),
            126..=65535 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(size as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(size as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        }
        // The relay never unmasks: any payload bytes will do.
        out.extend((0..size).map(|i| i as u8));
    }
    out
}

fn counters() -> RelayCounters {
    let counter = |name: &str| prometheus::IntCounter::new(name, "bench").expect("counter");
    RelayCounters {
        frames_to_upstream: counter("frames_to_upstream"),
        bytes_to_upstream: counter("bytes_to_upstream"),
        frames_to_client: counter("frames_to_client"),
        bytes_to_client: counter("bytes_to_client"),
    }
}

fn settings() -> RelaySettings {
    RelaySettings {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 16 << 20,
        idle_timeout: Some(Duration::from_secs(600)),
        max_session_duration: Some(Duration::from_secs(3300)),
        expires_at: None,
        extensions: Extensions::None,
        close_timeout: Duration::from_secs(1),
        send_timeout: Some(Duration::from_secs(30)),
        max_pings_per_second: 1000,
        // What the proxy runs its sessions with.
        timer: wsgate::timer::Timer::coarse(),
    }
}

/// Writes `batch` into `input` while reading as many bytes from `output`.
async fn pump(input: &mut DuplexStream, output: &mut DuplexStream, batch: &[u8], sink: &mut [u8]) {
    let write = async {
        input.write_all(batch).await.expect("write");
    };
    let read = async {
        output.read_exact(sink).await.expect("read");
    };
    tokio::join!(write, read);
}

fn bench_relay(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut client, client_side) = tokio::io::duplex(PIPE_BYTES);
    let (upstream_side, mut upstream) = tokio::io::duplex(PIPE_BYTES);
    let counters: &'static RelayCounters = Box::leak(Box::new(counters()));
    let session = runtime.spawn(relay(
        client_side,
        upstream_side,
        settings(),
        counters,
        CancellationToken::new(),
    ));

    let mut group = c.benchmark_group("relay");
    for size in [64usize, 1024, 16 * 1024, 64 * 1024] {
        for (direction, masked) in [("client_to_upstream", true), ("upstream_to_client", false)] {
            let batch = frames(size, masked);
            let mut sink = vec![0u8; batch.len()];
            // Verbatim: what comes out is exactly what went in.
            runtime.block_on(async {
                if masked {
                    pump(&mut client, &mut upstream, &batch, &mut sink).await;
                } else {
                    pump(&mut upstream, &mut client, &batch, &mut sink).await;
                }
            });
            assert!(sink == batch, "the relay changed the bytes");
            group.throughput(Throughput::Bytes(batch.len() as u64));
            group.bench_function(format!("{direction}/{size}B"), |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        if masked {
                            pump(&mut client, &mut upstream, &batch, &mut sink).await;
                        } else {
                            pump(&mut upstream, &mut client, &batch, &mut sink).await;
                        }
                    })
                })
            });
        }
    }
    group.finish();
    session.abort();
}

criterion_group!(benches, bench_relay);
criterion_main!(benches);
