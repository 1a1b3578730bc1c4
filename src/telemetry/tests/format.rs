//! The streaming JSON formatter: the same bytes as the serde_json formatter it replaced
//! (`legacy.rs`), escaping, field order, reserved names, numbers and timestamps.

use serde_json::Value;
use tracing_subscriber::fmt::format::Writer;

use super::super::format::client_addr::ClientAddr;
use super::super::format::json::{write_escaped, write_i64, write_u64};
use super::super::format::timestamp::write_timestamp;
use super::*;

/// Runs `action` under the JSON subscriber (everything enabled) and returns the raw output.
fn captured_text(action: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let subscriber = json_subscriber(EnvFilter::new("trace"), buffer.clone());
    tracing::subscriber::with_default(subscriber, action);
    buffer.text()
}

/// `text` with every `"time":"…"` value replaced by `T`, so lines formatted at
/// different times compare equal.
pub(super) fn without_timestamps(text: &str) -> String {
    const KEY: &str = "\"time\":\"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let value = &rest[at + KEY.len()..];
        let end = value.find('"').expect("timestamp string is closed");
        out.push_str(&rest[..at + KEY.len()]);
        out.push('T');
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// An event whose field names clash with the keys the format writes, and a raw identifier.
fn reserved_and_raw_names() {
    tracing::info!(
        severity = "spoofed",
        time = 2,
        timestamp = 1,
        target = "t",
        r#type = "raw",
        "reserved"
    );
}

/// The events the formatter is checked on: every value kind, escaping, reserved and raw
/// names, duplicate names, odd messages, and fields of enclosing spans.
fn sample_events() {
    tracing::info!(
        route = "/ws",
        client = %client(),
        websocket = true,
        method = "jwt",
        user = Some("alice"),
        issuer = None::<&str>,
        status = 403_u16,
        duration_ms = 1.5,
        "request denied"
    );
    tracing::warn!(
        text = "quote \" backslash \\ newline \n cr \r tab \t nul \u{0} unit \u{1f} del \u{7f} é 😀 \u{2028}",
        "control \u{1} \u{8} \u{c} \"in\" the \\ message"
    );
    tracing::error!(
        nan = f64::NAN,
        inf = f64::INFINITY,
        ninf = f64::NEG_INFINITY,
        zero = -0.0_f64,
        big = 1e300,
        small = 5e-324,
        whole = 2000.0_f64,
        "floats"
    );
    tracing::debug!(
        min = i64::MIN,
        max = u64::MAX,
        yes = true,
        no = false,
        wide = u128::MAX,
        "integers"
    );
    let error = io::Error::other("boom \"x\"\n");
    tracing::info!(
        debug = ?Some("x\"y"),
        display = %"a\nb",
        error = &error as &(dyn std::error::Error + 'static),
        "values"
    );
    reserved_and_raw_names();
    tracing::info!(a = 1, b = 2, a = 3, "duplicates");
    tracing::info!(message = 5_u64);
    tracing::info!(message = f64::NAN);
    tracing::info!(message = "first", message = "second");
    tracing::info!(only = "no message");
    tracing::info!("{} formatted {:?}", "plain", "dbg\n");
    {
        let outer = tracing::info_span!("outer", route = "/outer", conn = 7_u64);
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", route = "/inner", z = "q\"");
        let _inner = inner.enter();
        tracing::info!(route = "/event", n = 1, "in spans");
        let empty = tracing::info_span!("empty");
        let _empty = empty.enter();
        tracing::info!(n = 2, "in an empty span too");
    }
    tracing::trace!(target: "some::other", "another target");
}

#[test]
fn output_matches_the_serde_json_formatter_byte_for_byte() {
    let new = captured_text(sample_events);
    let old = legacy_text(sample_events);

    assert_eq!(new.lines().count(), 15, "{new}");
    for (new, old) in without_timestamps(&new)
        .lines()
        .zip(without_timestamps(&old).lines())
    {
        assert_eq!(new, old);
    }
    assert_eq!(without_timestamps(&new), without_timestamps(&old));
}

#[test]
fn each_line_is_one_json_object_with_the_fixed_keys_first_then_fields_in_recorded_order() {
    let text = captured_text(|| {
        tracing::info!(zeta = 1, alpha = true, mid = "x", f = 1.5, "m");
    });
    assert_eq!(
        without_timestamps(&text),
        "{\"message\":\"m\",\"severity\":\"INFO\",\"target\":\"wsgate::telemetry::tests::format\",\
         \"time\":\"T\",\"zeta\":1,\"alpha\":true,\"mid\":\"x\",\"f\":1.5}\n"
    );
}

#[test]
fn control_characters_quotes_backslashes_and_unicode_are_escaped() {
    let nasty = "q\" b\\ n\n r\r t\t b\u{8} f\u{c} nul\u{0} us\u{1f} del\u{7f} é 😀 \u{2028} /";
    let text = captured_text(|| {
        tracing::info!(value = nasty, debug = ?nasty, "{nasty}");
    });
    assert_eq!(
        text.lines().count(),
        1,
        "a newline in a value stays escaped: {text}"
    );
    assert!(
        text.contains(r#"q\" b\\ n\n r\r t\t b\b f\f nul\u0000 us\u001f del"#),
        "{text}"
    );
    let line: Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(line["message"], nasty);
    assert_eq!(line["value"], nasty);
    assert_eq!(line["debug"], format!("{nasty:?}"));
}

#[test]
fn escaping_matches_serde_json_for_every_ascii_character_and_beyond() {
    let mut samples: Vec<String> = (0u8..=0x7f)
        .map(|byte| char::from(byte).to_string())
        .collect();
    samples.extend(
        [
            "é",
            "😀",
            "\u{2028}",
            "\u{feff}",
            "",
            "plain",
            "a\"b\\c\u{0}d",
        ]
        .map(String::from),
    );
    for sample in samples {
        assert_escapes_like_serde_json(&sample);
    }
}

#[test]
fn reserved_names_are_renamed_and_raw_identifiers_stripped() {
    let text = captured_text(reserved_and_raw_names);
    assert!(
        without_timestamps(&text).ends_with(
            "\"target\":\"wsgate::telemetry::tests::format\",\"time\":\"T\",\
             \"fields.severity\":\"spoofed\",\"fields.time\":2,\"fields.timestamp\":1,\
             \"fields.target\":\"t\",\
             \"type\":\"raw\"}\n"
        ),
        "{text}"
    );
}

#[test]
fn event_fields_replace_span_fields_and_later_duplicates_earlier_ones() {
    let text = captured_text(|| {
        let outer = tracing::info_span!("outer", route = "/outer", conn = 7_u64);
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", route = "/inner");
        let _inner = inner.enter();
        tracing::info!(route = "/event", n = 1, n = 2, "clash");
    });
    // Span fields first (outermost first; within a span in serde_json's key order), an
    // overridden field keeps its first position and takes the last value.
    assert!(
        without_timestamps(&text).ends_with(",\"conn\":7,\"route\":\"/event\",\"n\":2}\n"),
        "{text}"
    );
}

#[test]
fn non_finite_floats_are_strings_and_finite_ones_numbers() {
    let text = captured_text(|| {
        tracing::info!(
            nan = f64::NAN,
            inf = f64::INFINITY,
            ninf = f64::NEG_INFINITY,
            whole = 2000.0_f64,
            half = 0.5,
            "floats"
        );
    });
    assert!(
        text.ends_with(
            ",\"nan\":\"NaN\",\"inf\":\"inf\",\"ninf\":\"-inf\",\"whole\":2000.0,\"half\":0.5}\n"
        ),
        "{text}"
    );
}

#[test]
fn a_message_that_is_not_a_string_is_written_as_text() {
    let text = captured_text(|| {
        tracing::info!(message = 5_u64);
        tracing::info!(message = f64::NAN);
        tracing::info!(only = "no message");
    });
    let messages: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON")["message"].clone())
        .collect();
    assert_eq!(messages, ["5", "NaN", ""]);
}

/// `write_escaped` between quotes is what serde_json writes for the same string.
#[track_caller]
fn assert_escapes_like_serde_json(sample: &str) {
    let mut escaped = String::new();
    write_escaped(&mut escaped, sample).expect("writing to a String");
    let reference = serde_json::to_string(sample).expect("serialize a str");
    assert_eq!(format!("\"{escaped}\""), reference, "{sample:?}");
}

/// A tiny deterministic generator (xorshift64), so the randomized checks need no crate and
/// fail the same way every time.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("small")
    }
}

#[test]
fn escaping_matches_serde_json_on_random_strings_around_the_word_boundaries() {
    // Escaped characters, their neighbours, multi-byte characters (whose bytes are all
    // >= 0x80) and plain ASCII, in strings long enough to span several 8-byte words.
    let palette = [
        "a", "Z", " ", "~", "\u{7f}", "\u{0}", "\u{1f}", "\u{20}", "\"", "\\", "\n", "\t", "!",
        "#", "[", "]", "é", "€", "😀", "\u{2028}", "\u{80}", "\u{ff}",
    ];
    let mut random = Xorshift(0x5EED_CAFE_F00D_1234);
    for _ in 0..20_000 {
        let length = random.below(40);
        let sample: String = (0..length)
            .map(|_| palette[random.below(palette.len())])
            .collect();
        assert_escapes_like_serde_json(&sample);
    }
}

#[test]
fn integers_are_written_as_display_writes_them() {
    let mut random = Xorshift(0x1275_5EED);
    let mut values: Vec<u64> = vec![0, 1, 9, 10, 99, 100, 65_535, u64::MAX, u64::MAX - 1];
    values.extend((0..2_000).map(|_| random.next() >> random.below(64)));
    for value in values {
        let mut written = String::new();
        write_u64(&mut written, value).expect("writing to a String");
        assert_eq!(written, value.to_string());
        for signed in [
            value as i64,
            (value as i64).wrapping_neg(),
            i64::MIN,
            i64::MAX,
            -1,
        ] {
            let mut written = String::new();
            write_i64(&mut written, signed).expect("writing to a String");
            assert_eq!(written, signed.to_string());
        }
    }
}

#[test]
fn timestamps_match_humantime_within_and_across_seconds() {
    let mut random = Xorshift(0x7173_5EED);
    let mut times = vec![
        std::time::UNIX_EPOCH,
        std::time::UNIX_EPOCH + Duration::from_nanos(999_999_999),
        std::time::SystemTime::now(),
    ];
    for _ in 0..2_000 {
        // Up to the year 2200, with any nanoseconds; often the same second twice in a row
        // (the cached case).
        let seconds = random.next() % 7_258_118_400;
        let base = std::time::UNIX_EPOCH + Duration::from_secs(seconds);
        times.push(base + Duration::from_nanos(random.next() % 1_000_000_000));
        times.push(base + Duration::from_nanos(random.next() % 1_000_000_000));
    }
    for time in times {
        let mut written = String::new();
        write_timestamp(&mut written, time).expect("writing to a String");
        assert_eq!(
            written,
            humantime::format_rfc3339_millis(time).to_string(),
            "{time:?}"
        );
    }
}

#[test]
fn client_addresses_read_as_socket_addr_display_does() {
    let mut addresses: Vec<SocketAddr> = [
        "0.0.0.0:0",
        "255.255.255.255:65535",
        "203.0.113.7:51234",
        "10.0.0.1:80",
        "127.0.0.1:9",
        "[::1]:8080",
        "[2001:db8::1]:443",
        "[::ffff:192.0.2.1]:1",
    ]
    .iter()
    .map(|text| text.parse().expect("literal address"))
    .collect();
    let mut random = Xorshift(0x000A_DD2E_55E5);
    for _ in 0..2_000 {
        let ip = std::net::Ipv4Addr::from(u32::try_from(random.next() >> 32).expect("32 bits"));
        let port = u16::try_from(random.next() >> 48).expect("16 bits");
        addresses.push(SocketAddr::from((ip, port)));
    }
    for address in addresses {
        assert_eq!(ClientAddr(address).to_string(), address.to_string());
        assert_eq!(
            format!("{:>30}", ClientAddr(address)),
            format!("{address:>30}")
        );
    }
}

/// A `fmt::Write` that fails, as a full or broken output would.
struct Failing;

impl std::fmt::Write for Failing {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[test]
fn a_failing_writer_fails_the_format_instead_of_panicking() {
    let mut failing = Failing;
    assert!(write_escaped(&mut failing, "a\"b").is_err());
    let mut output = String::new();
    assert!(write_escaped(&mut Writer::new(&mut output), "ok").is_ok());
    assert_eq!(output, "ok");
}
