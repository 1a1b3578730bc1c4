//! The timer thread's deadlines, on real time (the thread does not follow tokio's paused
//! clock). Each test waits for the deadline it sets, bounded by `PATIENCE` so a deadline
//! that never fires fails the test instead of hanging it; none checks how late one fires.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::*;

const PATIENCE: Duration = Duration::from_secs(10);
const SOON: Duration = Duration::from_millis(30);
const FAR: Duration = Duration::from_secs(3600);

fn coarse() -> Timer {
    let timer = Timer::coarse();
    assert!(matches!(timer, Timer::Coarse(_)), "the timer thread starts");
    timer
}

/// Waits for the timer thread to fire `deadline`, for at most `PATIENCE` (on tokio's
/// clock, which runs in these tests). The patience is polled first: once it has run out
/// the deadline's instant has passed too, and a poll of the deadline would succeed
/// whether or not the thread ever fired it.
async fn fires(deadline: &mut Deadline) {
    tokio::select! {
        biased;
        () = tokio::time::sleep(PATIENCE) => panic!("the timer thread did not fire the deadline"),
        () = &mut *deadline => {}
    }
}

/// Whether the timer thread holds `deadline` (it is registered and has not fired).
fn held(deadline: &Deadline) -> bool {
    let Kind::Coarse(entry) = &deadline.0 else {
        panic!("a coarse deadline");
    };
    let Some((id, _)) = &entry.registered else {
        return false;
    };
    entry.shared.lock().due.contains_key(&(entry.at, *id))
}

/// Polls `deadline` once with a waker that does nothing, registering it.
fn poll_once(deadline: &mut Deadline) -> Poll<()> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(deadline).poll(&mut cx)
}

#[tokio::test]
async fn a_deadline_never_fires_before_its_instant() {
    let timer = coarse();
    let at = Instant::now() + SOON;
    let mut deadline = timer.deadline(at);
    fires(&mut deadline).await;
    assert!(Instant::now() >= at);
    assert!(deadline.is_elapsed());
}

#[tokio::test]
async fn a_deadline_sooner_than_the_threads_next_wake_up_wakes_it() {
    let timer = coarse();
    // The thread goes to sleep for an hour with this one registered.
    let mut far = timer.sleep(FAR);
    assert!(poll_once(&mut far).is_pending());
    let mut soon = timer.sleep(SOON);
    fires(&mut soon).await;
    assert!(held(&far), "the far deadline is still registered");
}

#[tokio::test]
async fn many_deadlines_at_one_instant_all_fire() {
    let timer = coarse();
    let at = Instant::now() + SOON;
    let mut waiting: Vec<_> = (0..100).map(|_| timer.deadline(at)).collect();
    for deadline in &mut waiting {
        assert!(poll_once(deadline).is_pending());
    }
    for deadline in &mut waiting {
        fires(deadline).await;
    }
}

#[tokio::test]
async fn a_reset_moves_a_registered_deadline() {
    let timer = coarse();
    let mut deadline = timer.sleep(FAR);
    assert!(poll_once(&mut deadline).is_pending());
    let at = Instant::now() + SOON;
    deadline.reset(at);
    assert_eq!(deadline.deadline(), at);
    fires(&mut deadline).await;
    assert!(Instant::now() >= at);

    // Reset after firing: registered again, pending until the new instant.
    deadline.reset(Instant::now() + FAR);
    assert!(poll_once(&mut deadline).is_pending());
    assert!(held(&deadline));
}

#[tokio::test]
async fn a_deadline_reset_later_no_longer_fires_at_its_old_instant() {
    let timer = coarse();
    let mut deadline = timer.sleep(SOON);
    assert!(poll_once(&mut deadline).is_pending());
    deadline.reset(Instant::now() + FAR);
    // A deadline registered after the reset, at the old instant, fires; the moved one is
    // still held and still pending.
    fires(&mut timer.sleep(SOON)).await;
    assert!(held(&deadline));
    assert!(poll_once(&mut deadline).is_pending());
}

#[tokio::test]
async fn a_dropped_deadline_leaves_the_thread() {
    let timer = coarse();
    let mut deadline = timer.sleep(FAR);
    assert!(poll_once(&mut deadline).is_pending());
    assert!(held(&deadline));
    let Kind::Coarse(entry) = &deadline.0 else {
        unreachable!()
    };
    let key = (
        entry.at,
        entry.registered.as_ref().map(|(id, _)| *id).unwrap(),
    );
    let shared = entry.shared;
    drop(deadline);
    assert!(!shared.lock().due.contains_key(&key));
}

#[tokio::test]
async fn an_unpolled_deadline_registers_nothing() {
    let timer = coarse();
    let deadline = timer.sleep(FAR);
    assert!(!held(&deadline));
}

#[tokio::test]
async fn a_deadline_polled_by_another_task_wakes_that_task() {
    let timer = coarse();
    let mut deadline = timer.sleep(SOON);
    // Registered with a waker that does nothing, then awaited by this task: the thread
    // must wake the task that polled it last.
    assert!(poll_once(&mut deadline).is_pending());
    fires(&mut deadline).await;
}

/// Panics when woken.
struct Explosive;

impl std::task::Wake for Explosive {
    fn wake(self: std::sync::Arc<Self>) {
        panic!("a waker that panics (expected in this test)");
    }
}

#[tokio::test]
async fn a_waker_that_panics_does_not_stop_the_timer_thread() {
    let timer = coarse();
    let mut explosive = timer.sleep(SOON);
    let waker = Waker::from(std::sync::Arc::new(Explosive));
    assert!(
        Pin::new(&mut explosive)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    // The thread fires the explosive one first (its deadline is earlier), then this one.
    let mut after = timer.sleep(SOON * 3);
    fires(&mut after).await;
    assert!(explosive.is_elapsed());
}

#[tokio::test]
async fn timeout_at_gives_the_output_or_elapsed() {
    let timer = coarse();
    let at = Instant::now() + FAR;
    assert_eq!(timer.timeout_at(at, async { 7 }).await, Ok(7));
    let never = std::future::pending::<()>();
    assert_eq!(timer.timeout(SOON, never).await, Err(Elapsed));
}

#[tokio::test(start_paused = true)]
async fn tokio_deadlines_follow_paused_time() {
    let start = Instant::now();
    let mut deadline = Timer::Tokio.sleep(FAR);
    assert!(poll_once(&mut deadline).is_pending());
    (&mut deadline).await;
    assert!(Instant::now() >= start + FAR);
    deadline.reset(Instant::now() + FAR);
    assert!(!deadline.is_elapsed());
}
