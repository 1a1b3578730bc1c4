//! The `wsgate` binary as a child process: its output captured line by line (stdout and
//! stderr merged, each line tagged), waits on log lines and exit, and SIGTERM via `kill`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::upstream::Recorder;
use super::within;

/// Path of the binary under test.
pub(crate) const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// One line of output.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub stream: &'static str,
    pub text: String,
}

/// A running `wsgate`; killed (SIGKILL, by its own pid) if the test drops it still alive.
pub(crate) struct WsgateProcess {
    child: Child,
    lines: Arc<Recorder<Line>>,
    /// Lines already consumed by [`WsgateProcess::wait_for_line`].
    cursor: usize,
}

impl WsgateProcess {
    /// Spawns `wsgate ARGS` with `env` added and `PORT` removed.
    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)]) -> WsgateProcess {
        WsgateProcess::spawn_command(Command::new(WSGATE), args, env)
    }

    /// As [`WsgateProcess::spawn`], with the soft open-files limit lowered to `soft` first
    /// (through the shell's `ulimit`: the crate forbids the `unsafe` a `pre_exec` needs).
    pub(crate) fn spawn_with_open_files(
        soft: u64,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> WsgateProcess {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "ulimit -Sn \"$0\" && exec \"$@\"",
            &soft.to_string(),
            WSGATE,
        ]);
        WsgateProcess::spawn_command(command, args, env)
    }

    fn spawn_command(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> WsgateProcess {
        command
            .args(args)
            .env_remove("PORT")
            .env_remove("WSGATE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn wsgate");
        let lines = Arc::new(Recorder::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(forward(stdout, "stdout", Arc::clone(&lines)));
        tokio::spawn(forward(stderr, "stderr", Arc::clone(&lines)));
        WsgateProcess {
            child,
            lines,
            cursor: 0,
        }
    }

    /// Waits for the next line (after those already consumed) for which `pick` returns
    /// `Some`, and returns that value.
    pub(crate) async fn wait_for_line<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let lines = Arc::clone(&self.lines);
        let mut index = self.cursor;
        let found = tokio::time::timeout(super::PATIENCE, async {
            loop {
                let line = lines.nth(index, "a line of output").await;
                index += 1;
                if let Some(value) = pick(&line.text) {
                    return value;
                }
            }
        })
        .await;
        match found {
            Ok(value) => {
                self.cursor = index;
                value
            }
            Err(_) => panic!(
                "timed out waiting for {what}; output so far:\n{}",
                self.output()
            ),
        }
    }

    /// Everything printed so far, one line each, tagged with its stream.
    pub(crate) fn output(&self) -> String {
        self.lines
            .snapshot()
            .iter()
            .map(|l| format!("[{}] {}\n", l.stream, l.text))
            .collect()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("child still running")
    }

    /// Sends SIGTERM through the shell's `kill` builtin (the crate forbids `unsafe`, so no
    /// libc; `sh` is always present, a `/bin/kill` binary is not on slim images).
    pub(crate) fn terminate(&self) {
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.pid())])
            .status()
            .expect("run sh -c kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Sends SIGHUP (reload the configuration), like [`WsgateProcess::terminate`].
    pub(crate) fn hangup(&self) {
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -HUP {}", self.pid())])
            .status()
            .expect("run sh -c kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Waits for the process to exit (bounded by `limit`) and for its output to be read.
    pub(crate) async fn wait_exit(&mut self, limit: std::time::Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for wsgate"),
            Err(_) => panic!(
                "wsgate did not exit within {limit:?}; output:\n{}",
                self.output()
            ),
        }
    }
}

async fn forward(stream: impl AsyncRead + Unpin, name: &'static str, lines: Arc<Recorder<Line>>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(text)) = reader.next_line().await {
        lines.push(Line { stream: name, text });
    }
}

/// Runs `wsgate ARGS` to completion (bounded) and returns its exit status and the output
/// of both streams.
pub(crate) async fn run_to_exit(
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String, String) {
    let mut command = Command::new(WSGATE);
    command
        .args(args)
        .env_remove("PORT")
        .env_remove("WSGATE_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = within("wsgate to exit", command.output())
        .await
        .expect("run wsgate");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A scratch directory under the system temp dir, removed on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "wsgate-it-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `"key":"value"` (optionally with spaces) in a JSON log line.
pub(crate) fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let mut rest = line;
    while let Some(at) = rest.find(&needle) {
        let after = rest[at + needle.len()..].trim_start();
        if let Some(value) = after.strip_prefix(':')
            && let Some(value) = value.trim_start().strip_prefix('"')
        {
            return value.split('"').next();
        }
        rest = &rest[at + needle.len()..];
    }
    None
}

/// Waits for the startup line(s) naming the bound proxy and admin addresses.
pub(crate) async fn bound_addresses(process: &mut WsgateProcess) -> (SocketAddr, SocketAddr) {
    let mut proxy = None;
    let mut admin = None;
    process
        .wait_for_line("the bound listen and admin_listen addresses", |line| {
            if let Some(addr) = json_field(line, "listen").and_then(|v| v.parse().ok()) {
                proxy = Some(addr);
            }
            if let Some(addr) = json_field(line, "admin_listen").and_then(|v| v.parse().ok()) {
                admin = Some(addr);
            }
            proxy.zip(admin)
        })
        .await
}
