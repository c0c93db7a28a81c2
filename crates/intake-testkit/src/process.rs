//! Child processes whose output is collected line by line, so that a test can
//! wait for the line saying a process is ready instead of sleeping.
//!
//! Each output stream is read on its own background thread. The threads keep
//! reading after the awaited line has appeared: a process writing its log to
//! a pipe nobody drains would block once the pipe is full.

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// Reads `reader` until a line containing `needle` appears, and returns the
/// lines read up to and including that one.
///
/// Fails when `timeout` passes or the reader ends first; the error message
/// carries every line read so far. The reader is read on a background thread
/// that goes on reading until the reader ends, so the process writing to it
/// never blocks on a full pipe.
pub fn wait_for_line(
    reader: impl BufRead + Send + 'static,
    needle: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let output = OutputLog::new();
    output.collect(reader);
    output.wait_for_line(needle, timeout)?;

    let mut lines = output.lines();
    if let Some(position) = lines.iter().position(|line| line.contains(needle)) {
        lines.truncate(position + 1);
    }
    Ok(lines)
}

/// The lines written to one or more streams (a process's stdout and stderr),
/// collected by background threads and kept whole for as long as the log
/// lives.
///
/// Clones share the same lines.
#[derive(Clone, Default)]
pub struct OutputLog {
    shared: Arc<SharedOutput>,
}

#[derive(Default)]
struct SharedOutput {
    state: Mutex<OutputState>,
    /// Notified on every new line and whenever a stream ends.
    changed: Condvar,
}

#[derive(Default)]
struct OutputState {
    lines: Vec<String>,
    open_streams: usize,
}

impl OutputState {
    fn count_lines_containing(&self, needle: &str) -> usize {
        self.lines
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }
}

impl OutputLog {
    /// An empty log with no stream attached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a background thread that appends every line of `reader` to
    /// this log until the reader ends or fails.
    ///
    /// Bytes that are not UTF-8 are replaced rather than ending the stream.
    pub fn collect(&self, reader: impl BufRead + Send + 'static) {
        self.lock().open_streams += 1;
        let shared = Arc::clone(&self.shared);
        thread::spawn(move || {
            let mut reader = reader;
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => shared.push_line(&buffer),
                }
            }
            shared.close_stream();
        });
    }

    /// Waits until a line containing `needle` has been collected.
    ///
    /// Fails when `timeout` passes or every stream has ended first, with the
    /// whole log in the error message.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        self.wait_for_lines(needle, 1, timeout)
    }

    /// Waits until at least `count` lines containing `needle` have been
    /// collected, counting from the first line of the log.
    ///
    /// Fails like [`OutputLog::wait_for_line`].
    pub fn wait_for_lines(
        &self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(self.lock(), timeout, |state| {
                state.count_lines_containing(needle) < count && state.open_streams > 0
            })
            .unwrap_or_else(PoisonError::into_inner);

        if state.count_lines_containing(needle) >= count {
            return Ok(());
        }
        let reason = if state.open_streams == 0 {
            "the output ended".to_owned()
        } else {
            format!("{} s passed", timeout.as_secs_f32())
        };
        let awaited = match count {
            1 => format!("a line containing {needle:?}"),
            _ => format!("{count} lines containing {needle:?}"),
        };
        Err(format!(
            "{reason} before {awaited} appeared; output so far:\n{}",
            state.lines.join("\n")
        ))
    }

    /// Waits until every attached stream has ended; returns whether they did
    /// within `timeout`.
    pub fn wait_until_closed(&self, timeout: Duration) -> bool {
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(self.lock(), timeout, |state| state.open_streams > 0)
            .unwrap_or_else(PoisonError::into_inner);
        state.open_streams == 0
    }

    /// A copy of the lines collected so far, without their line endings.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// The lines collected so far, joined by newlines.
    pub fn text(&self) -> String {
        self.lock().lines.join("\n")
    }

    fn lock(&self) -> MutexGuard<'_, OutputState> {
        self.shared.lock()
    }
}

impl SharedOutput {
    fn lock(&self) -> MutexGuard<'_, OutputState> {
        // A reader thread holds the lock only to push a line; poisoning would
        // not leave the lines inconsistent, so the log stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_line(&self, bytes: &[u8]) {
        let line = String::from_utf8_lossy(bytes);
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        self.lock().lines.push(line);
        self.changed.notify_all();
    }

    fn close_stream(&self) {
        self.lock().open_streams -= 1;
        self.changed.notify_all();
    }
}

/// A child process whose stdout and stderr are collected into an
/// [`OutputLog`]. It is killed and reaped when dropped.
///
/// TODO: a test process that is itself killed (by a harness timeout, say)
/// leaves its children running; asking the kernel for a parent-death signal
/// needs unsafe code, which the workspace forbids.
pub struct WatchedProcess {
    name: String,
    child: Child,
    output: OutputLog,
}

impl WatchedProcess {
    /// Starts `command` with stdin closed and stdout and stderr collected.
    ///
    /// `name` is how error messages refer to the process.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|error| format!("failed to start {name}: {error}"))?;

        let output = OutputLog::new();
        if let Some(stdout) = child.stdout.take() {
            output.collect(BufReader::new(stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            output.collect(BufReader::new(stderr));
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            output,
        })
    }

    /// The operating system's id of the process.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process has written to stdout and stderr.
    pub fn output(&self) -> &OutputLog {
        &self.output
    }

    /// Waits until the process writes a line containing `needle`; see
    /// [`OutputLog::wait_for_line`].
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        self.output
            .wait_for_line(needle, timeout)
            .map_err(|error| format!("{}: {error}", self.name))
    }

    /// Sends SIGTERM, waits up to `grace` for the process to close its
    /// output, kills it if it has not, and reaps it.
    pub fn terminate(mut self, grace: Duration) -> io::Result<ExitStatus> {
        let signalled = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());

        // The output closing is the event that says the process has exited;
        // waiting on it needs no polling.
        if !signalled || !self.output.wait_until_closed(grace) {
            self.child.kill()?;
        }
        self.child.wait()
    }
}

impl Drop for WatchedProcess {
    fn drop(&mut self) {
        // Both fail only when the process is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    const LONG_ENOUGH: Duration = Duration::from_secs(10);

    #[test]
    fn wait_for_line_returns_the_lines_up_to_the_needle() {
        let reader = Cursor::new("starting\nready now\nserving\n");

        let lines = wait_for_line(reader, "ready", LONG_ENOUGH).unwrap();

        assert_eq!(lines, ["starting", "ready now"]);
    }

    #[test]
    fn wait_for_line_fails_at_once_when_the_output_ends_without_the_needle() {
        let reader = Cursor::new("starting\nfatal: bad option\n");

        let error = wait_for_line(reader, "ready", LONG_ENOUGH).unwrap_err();

        assert!(error.contains("the output ended"), "{error}");
        assert!(error.contains("fatal: bad option"), "{error}");
    }

    #[test]
    fn wait_for_line_fails_after_the_timeout_with_the_lines_seen() {
        let (reader, mut writer) = io::pipe().unwrap();
        writeln!(writer, "still starting").unwrap();
        let reader = BufReader::new(reader);
        let timeout = Duration::from_millis(100);

        let error = wait_for_line(reader, "ready", timeout).unwrap_err();

        assert!(error.contains("0.1 s passed"), "{error}");
        assert!(error.contains("still starting"), "{error}");
    }

    #[test]
    fn wait_for_lines_counts_matches_across_streams() {
        let output = OutputLog::new();
        output.collect(Cursor::new("joined a\nother\n"));
        output.collect(Cursor::new("joined b\n"));

        output.wait_for_lines("joined", 2, LONG_ENOUGH).unwrap();

        assert!(output.wait_until_closed(LONG_ENOUGH));
        assert_eq!(output.lines().len(), 3);
    }

    #[test]
    fn terminated_process_is_reaped_with_its_output_kept() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo ready; exec sleep 30"]);
        let process = WatchedProcess::spawn("sleeper", command).unwrap();
        process.wait_for_line("ready", LONG_ENOUGH).unwrap();
        let output = process.output().clone();

        let status = process.terminate(LONG_ENOUGH).unwrap();

        assert!(!status.success());
        assert_eq!(output.text(), "ready");
    }
}
