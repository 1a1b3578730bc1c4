//! The line's `time`: RFC 3339 with milliseconds, the date and time of day formatted once
//! a second.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes `now` as humantime's `format_rfc3339_millis` does (`2026-05-01T12:00:00.123Z`).
///
/// The date and time of day change once a second, so they are formatted once per second
/// and thread and kept; each line only adds the milliseconds.
pub(in crate::telemetry) fn write_timestamp(
    out: &mut impl fmt::Write,
    now: SystemTime,
) -> fmt::Result {
    thread_local! {
        /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let slow = |out: &mut dyn fmt::Write| write!(out, "{}", humantime::format_rfc3339_millis(now));
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return slow(out);
    };
    let (seconds, millis) = (since_epoch.as_secs(), since_epoch.subsec_millis());
    SECOND.with(|second| {
        let Ok(mut second) = second.try_borrow_mut() else {
            return slow(out);
        };
        let (cached, prefix) = &mut *second;
        if *cached != seconds {
            prefix.clear();
            let whole = UNIX_EPOCH + Duration::from_secs(seconds);
            write!(prefix, "{}", humantime::format_rfc3339_seconds(whole))?;
            prefix.pop(); // the 'Z'
            *cached = seconds;
        }
        out.write_str(prefix)?;
        let digit = |n: u32| char::from(b'0' + u8::try_from(n % 10).unwrap_or(0));
        out.write_char('.')?;
        out.write_char(digit(millis / 100))?;
        out.write_char(digit(millis / 10))?;
        out.write_char(digit(millis))?;
        out.write_char('Z')
    })
}
