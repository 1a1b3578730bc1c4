//! Reading the upstream's answer in memory (scripted pieces): heads split across reads,
//! body framing (length, chunked, EOF, the cap), informational heads, unreadable heads.

use super::*;

#[tokio::test]
async fn a_head_split_across_reads_is_read_whole() {
    let (status, headers, body) = refusal(&[
        b"HTTP/1.1 2",
        b"00 OK\r\nContent-Le",
        b"ngth: 5\r\nX-A: 1\r",
        b"\n\r\nhel",
        b"lo",
    ])
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-a"], "1");
    assert_eq!(body.as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn a_content_length_body_stops_at_its_length() {
    let (_, _, body) =
        refusal(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nnoMORE"]).await;
    assert_eq!(body.as_deref(), Some(&b"no"[..]));
}

#[tokio::test]
async fn a_content_length_body_cut_short_is_relayed_empty() {
    let (_, _, body) = refusal(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nno"]).await;
    assert_eq!(body, None);
}

#[tokio::test]
async fn a_chunked_body_is_decoded_ignoring_extensions_and_trailers() {
    let (status, headers, body) = read_refusal(&[
        b"HTTP/1.1 426 Upgrade Required\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"5;name=value\r\nhel",
        b"lo\r\n6\r\n",
        b" world\r\n0\r\nX-Trailer: t\r\n\r\n",
    ])
    .await
    .unwrap();
    assert_eq!(status, 426);
    assert!(headers.contains_key("transfer-encoding"));
    assert_eq!(body.as_deref(), Some(&b"hello world"[..]));
}

#[tokio::test]
async fn a_malformed_chunked_body_is_relayed_empty() {
    for bad in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\r\nhel",
    ] {
        let (_, _, body) = refusal(&[
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n",
            bad,
        ])
        .await;
        assert_eq!(body, None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[tokio::test]
async fn a_body_without_framing_runs_to_eof() {
    let (_, _, body) = refusal(&[b"HTTP/1.1 200 OK\r\n\r\nnot a ", b"websocket server"]).await;
    assert_eq!(body.as_deref(), Some(&b"not a websocket server"[..]));
}

#[tokio::test]
async fn a_body_over_the_cap_is_relayed_empty_whatever_its_framing() {
    let big = vec![b'x'; MAX_REFUSAL_BODY + 1];
    let chunk_line = format!("{:x}\r\n", big.len());
    let framings: [(&[u8], Vec<&[u8]>); 3] = [
        (b"Content-Length: 65537\r\n", vec![&big]),
        (b"", vec![&big]),
        (
            b"Transfer-Encoding: chunked\r\n",
            vec![chunk_line.as_bytes(), &big, b"\r\n0\r\n\r\n"],
        ),
    ];
    for (framing, body) in framings {
        let head = [b"HTTP/1.1 200 OK\r\n", framing, b"\r\n"].concat();
        let pieces: Vec<&[u8]> = std::iter::once(&head[..]).chain(body).collect();
        let (_, _, body) = refusal(&pieces).await;
        assert_eq!(body, None, "{:?}", String::from_utf8_lossy(framing));
    }
    // Exactly at the cap is still relayed.
    let exact = vec![b'x'; MAX_REFUSAL_BODY];
    let (_, _, body) = refusal(&[b"HTTP/1.1 200 OK\r\n\r\n", &exact]).await;
    assert_eq!(body.map(|b| b.len()), Some(MAX_REFUSAL_BODY));
}

#[tokio::test]
async fn no_content_and_not_modified_have_no_body() {
    for status in ["204 No Content", "304 Not Modified"] {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\nhello");
        let (_, _, body) = refusal(&[head.as_bytes()]).await;
        assert_eq!(body.as_deref(), Some(&b""[..]), "{status}");
    }
}

#[tokio::test]
async fn informational_heads_before_the_answer_are_skipped() {
    let (status, headers, body) = refusal(&[
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 4",
        b"03 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    ])
    .await;
    assert_eq!(status, 403);
    assert!(!headers.contains_key("link"));
    assert_eq!(body.as_deref(), Some(&b"no"[..]));
}

#[tokio::test]
async fn unreadable_heads_are_protocol_errors() {
    let many_headers = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X-A: 1\r\n".repeat(101));
    let huge_header = format!("HTTP/1.1 200 OK\r\nX-A: {}\r\n\r\n", "a".repeat(16 * 1024));
    let cases: [(&str, &[u8]); 6] = [
        ("EOF before the head ends", b"HTTP/1.1 200 OK\r\nContent-Le"),
        ("EOF before anything", b""),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        ("more than 100 headers", many_headers.as_bytes()),
        ("a head over 16 KiB", huge_header.as_bytes()),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
    ];
    for (what, bytes) in cases {
        let result = read_refusal(&[bytes]).await;
        assert!(result.is_err(), "{what}: {:?}", result.map(|r| r.0));
    }
}
