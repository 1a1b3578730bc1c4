//! Reloads: on SIGHUP, and whenever a file the running configuration was built from
//! changes: the config file and every file it names ([`Config::files`]: secret files, key
//! files, JWKS files, CA files, TLS certificates and keys).
//!
//! Files are compared by content, read through their path every [`POLL`], so an edit in
//! place, a rename over the file, and Kubernetes' symlink swap of a ConfigMap or Secret
//! volume (`..data` re-pointed at a new directory, which inotify on the file misses) are
//! all seen alike. A change loads the whole configuration again through `server::runtime`,
//! exactly as SIGHUP does; the new state is used only if all of it validates, otherwise the
//! old policy stays and the log line and `wsgate_config_reloads_total{result="error"}` say
//! why. While the files on disk are broken, the load is retried every poll (a Secret
//! volume may be updated after the ConfigMap that names its new file), and the same
//! problem is counted once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

use crate::config::Config;
use crate::domain::clock::budget_end;
use crate::proxy::Policy;
use crate::server::runtime;
use crate::telemetry::metrics::{Metrics, ReloadResult};
use crate::timer::Timer;

/// How often the watched files are read and compared.
pub(super) const POLL: Duration = Duration::from_secs(2);

/// Watches `path` and `config`'s files, sending each configuration that loads after a
/// change or SIGHUP on `reloads`; returns when the receiver is gone.
pub(super) async fn watch(
    path: PathBuf,
    config: &Config,
    reloads: Sender<Policy>,
    metrics: Arc<Metrics>,
) {
    let mut watched = Snapshot::read(watched_files(&path, config));
    let mut failing: Option<String> = None;
    // On the timer thread, not the runtime's: the runtime that serves connections (all of
    // them on one CPU) then waits without a timeout between events.
    let timer = Timer::coarse();
    let mut tick = timer.sleep(POLL);
    let mut hangup = hangup_signal();
    loop {
        let forced = tokio::select! {
            () = &mut tick => false,
            () = next_hangup(&mut hangup) => true,
        };
        if !forced {
            tick.reset(budget_end(Instant::now(), POLL));
        }
        let current = Snapshot::read(watched.paths().map(Path::to_path_buf).collect());
        let changed = current.first_difference(&watched).map(Path::to_path_buf);
        if !forced && changed.is_none() && failing.is_none() {
            continue;
        }
        let retry = !forced && changed.is_none();
        if !retry {
            tracing::info!(
                config = %path.display(),
                signal = forced,
                changed = changed.as_ref().map(|p| p.display().to_string()),
                "reloading configuration"
            );
        }
        match runtime::load(&path) {
            Ok(policy) => {
                failing = None;
                // Files read before this load keep the bytes read then, so a change made
                // while it ran is seen at the next poll.
                watched = current.extended(watched_files(&path, policy.gate.config()));
                if reloads.send(policy).await.is_err() {
                    return;
                }
            }
            Err(errors) => {
                watched = current;
                let problems: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
                let problem = problems.join("; ");
                if retry && failing.as_deref() == Some(problem.as_str()) {
                    continue;
                }
                crate::telemetry::record_config_reload(
                    &metrics,
                    ReloadResult::Error,
                    Some(&problem),
                );
                failing = Some(problem);
            }
        }
    }
}

/// The config file and the files it names.
fn watched_files(path: &Path, config: &Config) -> Vec<PathBuf> {
    let mut files = config.files();
    files.push(path.to_path_buf());
    files.sort();
    files.dedup();
    files
}

/// The content of each watched file (`None`: unreadable), read through its path.
struct Snapshot(Vec<(PathBuf, Option<Vec<u8>>)>);

impl Snapshot {
    fn read(paths: Vec<PathBuf>) -> Snapshot {
        Snapshot(
            paths
                .into_iter()
                .map(|path| {
                    let bytes = std::fs::read(&path).ok();
                    (path, bytes)
                })
                .collect(),
        )
    }

    fn paths(&self) -> impl Iterator<Item = &Path> {
        self.0.iter().map(|(path, _)| path.as_path())
    }

    /// The first file whose content differs from `before`'s.
    fn first_difference(&self, before: &Snapshot) -> Option<&Path> {
        self.0
            .iter()
            .zip(&before.0)
            .find(|((_, now), (_, then))| now != then)
            .map(|((path, _), _)| path.as_path())
    }

    /// A snapshot of `paths`: this one's bytes where it has them, read now otherwise.
    fn extended(mut self, paths: Vec<PathBuf>) -> Snapshot {
        Snapshot(
            paths
                .into_iter()
                .map(
                    |path| match self.0.iter().position(|(known, _)| *known == path) {
                        Some(at) => self.0.swap_remove(at),
                        None => {
                            let bytes = std::fs::read(&path).ok();
                            (path, bytes)
                        }
                    },
                )
                .collect(),
        )
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

/// Completes on the next SIGHUP; never where there is none.
async fn next_hangup(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup.as_mut()
        && signal.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let _ = hangup;
    std::future::pending::<()>().await;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_swap_is_a_change_and_a_file_read_before_a_load_keeps_its_bytes() {
        let dir = std::env::temp_dir().join(format!("wsgate-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        std::fs::create_dir_all(dir.join("v2")).unwrap();
        std::fs::write(dir.join("v1/secret"), "one").unwrap();
        std::fs::write(dir.join("v2/secret"), "two").unwrap();
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/secret", dir.join("secret")).unwrap();
        let file = dir.join("secret");

        let before = Snapshot::read(vec![file.clone()]);
        assert!(
            Snapshot::read(vec![file.clone()])
                .first_difference(&before)
                .is_none()
        );
        // Kubernetes: a new `..data` link renamed over the old one.
        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        let after = Snapshot::read(vec![file.clone()]);
        assert_eq!(after.first_difference(&before), Some(file.as_path()));

        let other = dir.join("other");
        std::fs::write(&other, "x").unwrap();
        let extended = before.extended(vec![file.clone(), other.clone()]);
        assert_eq!(extended.0[0].1.as_deref(), Some(&b"one"[..]));
        assert_eq!(extended.0[1].1.as_deref(), Some(&b"x"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
