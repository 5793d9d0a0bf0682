//! Progress on standard error: a live line on a terminal; with `-v` and no terminal, a
//! line every few seconds (`LIFEBOAT_PROGRESS_INTERVAL` seconds, default 5); nothing
//! with `--json` or otherwise. Standard output never carries progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use lifeboat_repo::{Progress, ProgressSnapshot};
use tokio::io::{AsyncRead, ReadBuf};

use super::human_bytes;

/// The seconds between progress lines when standard error is not a terminal (tests set
/// a short one).
const INTERVAL_ENV: &str = "LIFEBOAT_PROGRESS_INTERVAL";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How often a terminal's line is redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live line on the terminal.
    Bar,
    /// A line every so often (standard error is a log).
    Lines(Duration),
    /// Nothing.
    Off,
}

impl Mode {
    /// The mode for a command: nothing with `--json`; a live line on a terminal; lines
    /// only when asked for with `-v`.
    pub fn for_command(verbose: u8, json: bool) -> Mode {
        if json {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else if verbose > 0 {
            let interval = std::env::var(INTERVAL_ENV).ok().and_then(|s| s.trim().parse::<f64>().ok());
            Mode::Lines(
                interval.filter(|s| *s > 0.0 && s.is_finite()).map_or(DEFAULT_INTERVAL, Duration::from_secs_f64),
            )
        } else {
            Mode::Off
        }
    }
}

/// Progress being shown, until [`Shown::finish`].
pub struct Shown {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Shows `progress` of the operation `what` (counting `unit`s: files, objects, backups)
/// on its own thread, so it keeps moving whatever the runtime is doing.
pub fn show(progress: &Progress, what: &'static str, unit: &'static str, mode: Mode) -> Shown {
    if mode == Mode::Off {
        return Shown { stop: None, thread: None };
    }
    let (stop, stopped) = mpsc::channel();
    let progress = progress.clone();
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        let line = |p: &Progress| status_line(what, unit, &p.snapshot(), started.elapsed());
        match mode {
            Mode::Bar => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(REDRAW) {
                    bar.set_message(line(&progress));
                }
                // The last reading stays on the terminal, as restic leaves its summary.
                bar.set_message(line(&progress));
                bar.finish();
                // indicatif leaves the cursor at the end of the line: what comes next starts
                // on a line of its own.
                eprintln!();
            }
            Mode::Lines(every) => {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    eprintln!("lifeboat: {}", line(&progress));
                }
                eprintln!("lifeboat: {}", line(&progress));
            }
            Mode::Off => {}
        }
    });
    Shown { stop: Some(stop), thread: Some(thread) }
}

impl Shown {
    /// Stops showing, leaving the last reading.
    pub fn finish(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Estimates a files backup's totals on a thread of its own, so that the line can show a
/// share and an ETA: the regular files under `paths`, and the bytes of their tar stream (a
/// header block per entry, each file's data in whole blocks, the end blocks). The walk
/// follows no symlink and knows no exclude pattern: start it only without filters.
pub fn estimate_tree(paths: &[PathBuf], progress: &Progress) {
    let (mut stack, progress) = (paths.to_vec(), progress.clone());
    std::thread::spawn(move || {
        let (mut files, mut bytes) = (0u64, 1024u64);
        while let Some(path) = stack.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            bytes += 512;
            if meta.is_file() {
                files += 1;
                bytes += meta.len().div_ceil(512) * 512;
            } else if meta.is_dir()
                && let Ok(entries) = std::fs::read_dir(&path)
            {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
        progress.add_totals(files, bytes);
    });
}

/// `verify: 3/10 objects, 12.0 MiB/40.0 MiB (30%), 6.0 MiB/s, eta 5s`: counts, bytes, the
/// rate since the start, and the time left when the total is known.
pub fn status_line(what: &str, unit: &str, p: &ProgressSnapshot, elapsed: Duration) -> String {
    let files = match p.files_total {
        Some(total) if total > 0 => format!("{}/{total} {unit}", p.files),
        _ => format!("{} {unit}", p.files),
    };
    let rate = p.bytes as f64 / elapsed.as_secs_f64().max(0.001);
    let (bytes, eta) = match p.bytes_total {
        Some(total) if total > 0 => {
            let percent = (p.bytes as f64 * 100.0 / total as f64).min(100.0);
            let left = total.saturating_sub(p.bytes) as f64 / rate.max(1.0);
            let eta = if p.bytes == 0 { "eta ?".to_owned() } else { format!("eta {}", duration(left)) };
            (format!("{}/{} ({percent:.0}%)", human_bytes(p.bytes), human_bytes(total)), eta)
        }
        _ => (human_bytes(p.bytes), format!("{} elapsed", duration(elapsed.as_secs_f64()))),
    };
    format!("{what}: {files}, {bytes}, {}/s, {eta}", human_bytes(rate as u64))
}

fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// A spinner with elapsed time, or `None` when not on a terminal.
pub fn spinner(message: &'static str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// Wraps a reader so that a bar shows the bytes read and the rate.
pub fn counting<R: AsyncRead + Unpin>(
    inner: R,
    message: &'static str,
    total: Option<u64>,
) -> (Counting<R>, Option<ProgressBar>) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{spinner} {msg} {bytes} {bytes_per_sec} {elapsed}"
        };
        bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    (Counting { inner, bar: bar.clone() }, bar)
}

/// Clears a bar.
pub fn finish(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// A reader that advances a progress bar.
pub struct Counting<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(bar)) = (&poll, &self.bar) {
            bar.inc((buf.filled().len() - before) as u64);
        }
        poll
    }
}
