//! Reload end to end, through the real binary: the config and the secret it names live in
//! a Kubernetes-style volume (`wsgate.toml -> ..data/wsgate.toml`, `..data -> ..vN`) and
//! change the way the kubelet changes them, by re-pointing `..data` in one rename. Every
//! wait is on `wsgate_config_reloads_total`, scraped from the admin listener.

use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use tokio::io::AsyncReadExt;

use crate::support::process::bound_addresses;
use crate::support::proxy::admin_get;
use crate::support::tokens::{Claims, SECRET, SECRET_ENV, alice};
use crate::support::{
    EchoUpstream, TempDir, TestProxy, Upgrade, WsgateProcess, eventually, expect_echo,
    metric_value, within,
};

/// A second HMAC secret, for rotation.
const ROTATED: &str = "wsgate-integration-rotated-secret-3c5e7a9b1d";

/// A projected volume as the kubelet writes it: each version in its own directory,
/// `..data` pointing at the current one, every file a symlink through `..data`.
struct Volume {
    dir: TempDir,
    version: usize,
}

impl Volume {
    fn new(files: &[(&str, &str)]) -> Volume {
        let mut volume = Volume {
            dir: TempDir::new(),
            version: 0,
        };
        volume.swap(files);
        volume
    }

    /// Writes a new version and re-points `..data` at it in one rename.
    fn swap(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let root = self.dir.path();
        let version = format!("..v{}", self.version);
        std::fs::create_dir_all(root.join(&version)).expect("version dir");
        for (name, contents) in files {
            std::fs::write(root.join(&version).join(name), contents).expect("write");
            let link = root.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(format!("..data/{name}"), &link).expect("file link");
            }
        }
        symlink(&version, root.join("..data_tmp")).expect("..data_tmp");
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap ..data");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The builder's policy with the issuer secret read from `jwt.secret` beside the config.
fn config(
    upstream: &str,
    customize: impl Fn(crate::support::TestProxyBuilder) -> crate::support::TestProxyBuilder,
) -> String {
    let toml = customize(TestProxy::builder().upstream(upstream)).toml();
    let from_env = format!("secret = {{ env = \"{SECRET_ENV}\" }}");
    assert!(toml.contains(&from_env), "the builder's secret line moved");
    toml.replace(&from_env, "secret = { file = \"jwt.secret\" }")
}

/// `/public` made to require a token: a policy change that is easy to observe.
fn public_closed(toml: &str) -> String {
    let open = "path = \"/public\"\nauth = \"none\"";
    assert!(toml.contains(open), "the builder's /public route moved");
    toml.replace(open, "path = \"/public\"\nauth = \"required\"")
}

async fn reloads(admin: SocketAddr, result: &str) -> f64 {
    let metrics = admin_get(admin, "/metrics").await.body_text();
    metric_value(
        &metrics,
        "wsgate_config_reloads_total",
        &[("result", result)],
    )
    .unwrap_or(0.0)
}

async fn wait_for_reloads(admin: SocketAddr, result: &str, count: f64) {
    eventually(
        &format!("{count} reload(s) with result {result}"),
        || async move { (reloads(admin, result).await >= count).then_some(()) },
    )
    .await;
}

async fn status(proxy: SocketAddr, path: &str, token: Option<&str>) -> (u16, Option<String>) {
    let mut request = Upgrade::plain_get(path);
    if let Some(token) = token {
        request = request.bearer(token);
    }
    let response = request.send(proxy).await;
    let reason = response.header("x-wsgate-reason").map(str::to_owned);
    (response.status, reason)
}

async fn start(volume: &Volume) -> (WsgateProcess, SocketAddr, SocketAddr) {
    let config = volume.path("wsgate.toml");
    let mut process = WsgateProcess::spawn(
        &["run", "--config", config.to_str().expect("utf-8 path")],
        &[],
    );
    let (proxy, admin) = bound_addresses(&mut process).await;
    (process, proxy, admin)
}

fn hangup(process: &WsgateProcess) {
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", process.pid())])
        .status()
        .expect("run sh -c kill");
    assert!(status.success(), "kill -HUP failed");
}

#[tokio::test]
async fn a_config_swapped_by_symlink_applies_and_a_bad_one_is_kept_out_without_touching_sessions() {
    let upstream = EchoUpstream::start().await;
    let v1 = config(&upstream.url(), |b| b);
    let mut volume = Volume::new(&[("wsgate.toml", &v1), ("jwt.secret", SECRET)]);
    let (process, proxy, admin) = start(&volume).await;
    assert_eq!(
        status(proxy, "/public", None).await.0,
        200,
        "v1: /public is open"
    );
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "before any reload").await;

    volume.swap(&[("wsgate.toml", &public_closed(&v1)), ("jwt.secret", SECRET)]);
    wait_for_reloads(admin, "success", 1.0).await;
    assert_eq!(
        status(proxy, "/public", None).await,
        (403, Some("token_missing".to_owned())),
        "v2 is in force"
    );
    expect_echo(&mut session, "after the reload").await;

    volume.swap(&[
        ("wsgate.toml", "environment = [broken"),
        ("jwt.secret", SECRET),
    ]);
    wait_for_reloads(admin, "error", 1.0).await;
    assert_eq!(
        status(proxy, "/public", None).await,
        (403, Some("token_missing".to_owned())),
        "a file that does not parse leaves v2 in force"
    );
    assert_eq!(
        status(proxy, "/api/items", Some(&alice())).await.0,
        200,
        "and v2 still admits tokens"
    );
    expect_echo(&mut session, "after the refused reload").await;

    // A secret file that disappears is a refused reload too, not a policy without keys.
    volume.swap(&[("wsgate.toml", &v1)]);
    wait_for_reloads(admin, "error", 2.0).await;
    assert_eq!(
        status(proxy, "/public", None).await.0,
        403,
        "v2 still in force"
    );

    // Fixed files are picked up without another signal; SIGHUP reloads as well.
    volume.swap(&[("wsgate.toml", &v1), ("jwt.secret", SECRET)]);
    wait_for_reloads(admin, "success", 2.0).await;
    assert_eq!(status(proxy, "/public", None).await.0, 200, "v1 again");
    hangup(&process);
    wait_for_reloads(admin, "success", 3.0).await;
    expect_echo(&mut session, "through every reload").await;
    assert_eq!(reloads(admin, "restart_required").await, 0.0);
    drop(process);
}

#[tokio::test]
async fn a_secret_rotated_by_symlink_swap_admits_new_tokens_and_refuses_old_ones() {
    let upstream = EchoUpstream::start().await;
    let toml = config(&upstream.url(), |b| b);
    let mut volume = Volume::new(&[("wsgate.toml", &toml), ("jwt.secret", SECRET)]);
    let (process, proxy, admin) = start(&volume).await;
    let old = alice();
    let new = Claims::valid_for("alice").sign_with(Algorithm::HS256, ROTATED);
    assert_eq!(status(proxy, "/api/items", Some(&old)).await.0, 200);
    assert_eq!(
        status(proxy, "/api/items", Some(&new)).await,
        (403, Some("signature_invalid".to_owned()))
    );
    let (mut session, _) = Upgrade::to("/ws").bearer(&old).open(proxy).await;

    volume.swap(&[("wsgate.toml", &toml), ("jwt.secret", ROTATED)]);
    wait_for_reloads(admin, "success", 1.0).await;
    assert_eq!(
        status(proxy, "/api/items", Some(&new)).await.0,
        200,
        "new tokens admitted"
    );
    assert_eq!(
        status(proxy, "/api/items", Some(&old)).await,
        (403, Some("signature_invalid".to_owned())),
        "old tokens refused after the rotation"
    );
    expect_echo(
        &mut session,
        "a session admitted before the rotation lives on",
    )
    .await;
    drop(process);
}

#[tokio::test]
async fn a_reload_applies_handshake_timeout_and_names_the_keys_that_need_a_restart() {
    let upstream = EchoUpstream::start().await;
    // A handshake budget far beyond the test's patience, then one well within it.
    let slow = config(&upstream.url(), |b| {
        b.server_setting("handshake_timeout = \"120s\"")
    });
    let fast = config(&upstream.url(), |b| {
        b.server_setting("handshake_timeout = \"1s\"")
    });
    let mut volume = Volume::new(&[("wsgate.toml", &slow), ("jwt.secret", SECRET)]);
    let (mut process, proxy, admin) = start(&volume).await;

    volume.swap(&[("wsgate.toml", &fast), ("jwt.secret", SECRET)]);
    wait_for_reloads(admin, "success", 1.0).await;
    // A connection that never sends its head is closed at the new handshake timeout.
    let mut silent = tokio::net::TcpStream::connect(proxy)
        .await
        .expect("connect");
    let mut rest = Vec::new();
    within(
        "the proxy to close a silent connection at the reloaded handshake_timeout",
        silent.read_to_end(&mut rest),
    )
    .await
    .expect("read to the close");

    let resized = fast.replace("max_connections = 100", "max_connections = 7");
    assert_ne!(resized, fast, "the builder's max_connections line moved");
    volume.swap(&[("wsgate.toml", &resized), ("jwt.secret", SECRET)]);
    wait_for_reloads(admin, "restart_required", 1.0).await;
    process
        .wait_for_line("the reload naming the key that needs a restart", |line| {
            (line.contains("restart_required") && line.contains("server.max_connections"))
                .then_some(())
        })
        .await;
    assert_eq!(
        reloads(admin, "success").await,
        1.0,
        "never counted as a plain success"
    );
}

#[tokio::test]
async fn check_lists_every_watched_file_and_the_keys_that_need_a_restart() {
    let toml = config("ws://127.0.0.1:9", |b| b);
    let volume = Volume::new(&[("wsgate.toml", &toml), ("jwt.secret", SECRET)]);
    let config = volume.path("wsgate.toml");
    let secret = volume.path("jwt.secret");
    crate::support::policy::wsgate(
        &["check", "--config", config.to_str().expect("utf-8 path")],
        &[],
        None,
    )
    .await
    .expect_code(0, "check")
    .expect_mentions(&[
        &format!("#   {}", config.display()),
        &format!("#   {}", secret.display()),
        "need a restart: server.listen, server.admin_listen, server.max_connections",
    ]);
}

#[tokio::test]
async fn a_reload_that_changes_session_control_names_it_as_needing_a_restart() {
    let upstream = EchoUpstream::start().await;
    let capped = config(&upstream.url(), |b| b.table("[sessions]\nmax_per_user = 1"));
    let mut volume = Volume::new(&[("wsgate.toml", &capped), ("jwt.secret", SECRET)]);
    let (mut process, proxy, admin) = start(&volume).await;
    let (_first, _) = crate::support::Upgrade::to("/ws")
        .bearer(&crate::support::tokens::alice())
        .open(proxy)
        .await;

    let uncapped = capped.replace("max_per_user = 1", "max_per_user = 5");
    volume.swap(&[("wsgate.toml", &uncapped), ("jwt.secret", SECRET)]);
    wait_for_reloads(admin, "restart_required", 1.0).await;
    process
        .wait_for_line("the reload naming [sessions]", |line| {
            (line.contains("restart_required") && line.contains("[sessions]")).then_some(())
        })
        .await;
    // The running cap stays in force until a restart.
    let refused = crate::support::Upgrade::to("/ws")
        .bearer(&crate::support::tokens::alice())
        .send(proxy)
        .await;
    assert_eq!(refused.header("x-wsgate-reason"), Some("too_many_sessions"));
}
