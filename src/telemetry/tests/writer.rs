//! The coalescing log writer: every line delivered whole and in order, bursts written
//! together, backpressure at the cap, flushing.

use std::sync::Arc;

use serde_json::Value;

use super::super::writer::{CoalescingWriter, Limits, coalescing};
use super::*;

/// Limits small enough for tests to reach them.
const SMALL: Limits = Limits {
    coalesce: std::time::Duration::from_millis(5),
    high_water: 4 * 1024,
    hard_cap: 16 * 1024,
};

/// A coalescing pause no test waits out: only a flush or the guard writes.
const PAUSED: Limits = Limits {
    coalesce: Duration::from_secs(600),
    ..Limits::DEFAULT
};

/// A sink counting its `write` calls and optionally slow, around a [`Buffer`].
#[derive(Clone, Default)]
struct Sink {
    buffer: Buffer,
    writes: Arc<std::sync::atomic::AtomicUsize>,
    delay: Duration,
}

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.buffer.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn writes(&self) -> usize {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Writes `lines` numbered lines from each of `threads` threads through `writer`.
fn write_concurrently(writer: &CoalescingWriter, threads: usize, lines: usize) {
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for line in 0..lines {
                    let text = format!("{thread} {line} {}\n", "x".repeat(line % 50));
                    io::Write::write_all(&mut writer.make_writer(), text.as_bytes())
                        .expect("queue a line");
                }
            });
        }
    });
}

/// Checks that `text` holds exactly lines `0..lines` of each of `threads` threads, each
/// thread's in order.
fn assert_every_line_in_order(text: &str, threads: usize, lines: usize) {
    let mut next = vec![0; threads];
    for line in text.lines() {
        let mut parts = line.split(' ');
        let thread: usize = parts.next().and_then(|p| p.parse().ok()).expect("thread");
        let number: usize = parts.next().and_then(|p| p.parse().ok()).expect("number");
        assert_eq!(number, next[thread], "thread {thread}'s lines out of order");
        assert_eq!(
            parts.next(),
            Some("x".repeat(number % 50).as_str()),
            "line intact"
        );
        next[thread] += 1;
    }
    assert_eq!(next, vec![lines; threads], "every line delivered once");
}

#[test]
fn the_coalescing_writer_delivers_every_line_in_order_from_concurrent_writers() {
    let sink = Sink::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), SMALL);
    write_concurrently(&writer, 6, 3000);
    drop(guard);
    assert_every_line_in_order(&sink.buffer.text(), 6, 3000);
}

#[test]
fn a_slow_output_blocks_writers_at_the_cap_and_loses_nothing() {
    let sink = Sink {
        delay: Duration::from_millis(2),
        ..Sink::default()
    };
    let limits = Limits {
        coalesce: Duration::from_millis(1),
        high_water: 256,
        hard_cap: 1024,
    };
    let (writer, guard) = coalescing(Box::new(sink.clone()), limits);
    write_concurrently(&writer, 4, 400);
    drop(guard);
    assert_every_line_in_order(&sink.buffer.text(), 4, 400);
}

#[test]
fn a_burst_is_written_in_few_writes_and_the_guard_flushes_it() {
    let sink = Sink::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), PAUSED);
    write_concurrently(&writer, 1, 200);
    assert_eq!(sink.writes(), 0, "nothing is written during the pause");
    #[allow(clippy::disallowed_types)] // the writer thread waits real time
    let dropped = std::time::Instant::now();
    drop(guard);
    assert!(
        dropped.elapsed() < Duration::from_secs(60),
        "shutdown does not wait out the pause"
    );
    assert_eq!(sink.writes(), 1, "the burst went out in one write");
    assert_every_line_in_order(&sink.buffer.text(), 1, 200);
}

#[test]
fn flush_writes_what_is_queued_without_waiting_out_the_pause() {
    let sink = Sink::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), PAUSED);
    io::Write::write_all(&mut writer.make_writer(), b"0 0 \n").expect("queue a line");
    writer.flush(Duration::from_secs(60));
    assert_eq!(sink.buffer.text(), "0 0 \n");
    drop(guard);
}

#[test]
fn lines_after_the_guard_is_dropped_are_written_directly() {
    let sink = Sink::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), SMALL);
    drop(guard);
    io::Write::write_all(&mut writer.make_writer(), b"0 0 \n").expect("write a line");
    assert_eq!(sink.buffer.text(), "0 0 \n");
}

#[test]
fn log_lines_from_many_threads_reach_the_output_whole_and_in_order() {
    let sink = Sink::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), SMALL);
    let dispatch = tracing::Dispatch::new(json_subscriber(EnvFilter::new("info"), writer));
    std::thread::scope(|scope| {
        for thread in 0..4_u64 {
            let dispatch = &dispatch;
            scope.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    for line in 0..500_u64 {
                        tracing::info!(thread, line, "line \"{line}\"\n");
                    }
                });
            });
        }
    });
    drop(guard);
    let mut next = [0; 4];
    for line in sink.buffer.text().lines() {
        let line: Value = serde_json::from_str(line).expect("each line is whole JSON");
        let thread = line["thread"].as_u64().expect("thread") as usize;
        assert_eq!(line["line"], next[thread]);
        assert_eq!(line["message"], format!("line \"{}\"\n", next[thread]));
        next[thread] += 1;
    }
    assert_eq!(next, [500; 4]);
}
