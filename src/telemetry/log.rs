//! Log setup: human-readable or JSON lines on stderr, filtered by `RUST_LOG`.
//!
//! Everything a stranger controls (paths, hosts) is logged with `?` (Debug), which quotes
//! and escapes it, so a crafted request cannot forge log lines.
//!
//! The worker threads write one access line per request. Written straight to stderr, each
//! line is a `write(2)` under std's process-wide stderr lock, which the two workers then
//! hand to each other with a futex wake-up several thousand times a second (measured: one
//! futex call for every two requests at 32 connections). So a worker collects its lines
//! in a buffer of its own and writes them in one go when it holds [`FLUSH_BYTES`] or every
//! [`FLUSH_EVERY`], as nginx's `access_log … buffer= flush=` does; other threads write
//! straight through. A line reaches stderr whole, at most `FLUSH_EVERY` late; what a
//! worker holds when the process is killed outright (SIGKILL) is lost, as with nginx.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// A worker writes its lines once it holds this much.
pub const FLUSH_BYTES: usize = 32 * 1024;
/// … and at least this often while it holds any.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The format chosen at start, for the lines written without tracing-subscriber's
/// formatter (the access line, `super::access`).
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(Lines);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

thread_local! {
    /// `Some` on a thread that buffers its lines (see [`buffer_this_thread`]).
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// The lines a worker holds; written out when dropped, so a thread that ends (a worker
/// stopped, or one unwinding from a panic) loses none.
struct Held(Vec<u8>);

impl Held {
    fn write_out(&mut self) {
        if self.0.is_empty() {
            return;
        }
        // Errors of stderr itself have nowhere to be reported.
        let _ = std::io::stderr().lock().write_all(&self.0);
        self.0.clear();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.write_out();
    }
}

/// From now on this thread's log lines are held and written in batches. The returned
/// future writes them every [`FLUSH_EVERY`]; run it on the thread's own event loop.
pub fn buffer_this_thread() -> impl Future<Output = ()> {
    HELD.with(|held| {
        held.borrow_mut()
            .get_or_insert_with(|| Held(Vec::with_capacity(FLUSH_BYTES + 4096)));
    });
    async {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            flush();
        }
    }
}

/// Writes out what this thread holds.
pub fn flush() {
    HELD.with(|held| {
        if let Some(held) = held.borrow_mut().as_mut() {
            held.write_out();
        }
    });
}

/// The format [`init`] was given (human before it is called).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Human)
}

/// Writes one whole line made by `make`: straight into this thread's batch if it has one
/// (written out once full), else to stderr in one write. A line must never panic, so a
/// batch being written out at that moment is passed by, not borrowed twice.
pub fn write_line(make: impl FnOnce(&mut Vec<u8>)) {
    HELD.with(|held| match held.try_borrow_mut().as_deref_mut() {
        Ok(Some(held)) => {
            make(&mut held.0);
            if held.0.len() >= FLUSH_BYTES {
                held.write_out();
            }
        }
        // No batch on this thread, or it is being written out: one write of its own.
        _ => {
            let mut line = Vec::with_capacity(256);
            make(&mut line);
            let _ = std::io::stderr().lock().write_all(&line);
        }
    });
}

/// The subscriber's writer: this thread's buffer if it has one, stderr otherwise.
struct Lines;

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

/// One event's text. tracing-subscriber formats an event whole and hands it over in one
/// `write_all`, so a line is never split between two batches.
struct Line;

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        write_line(|out| out.extend_from_slice(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_len() -> Option<usize> {
        HELD.with(|held| held.borrow().as_ref().map(|h| h.0.len()))
    }

    #[test]
    fn a_thread_without_a_buffer_writes_through() {
        std::thread::spawn(|| {
            assert_eq!(Line.write(b"line\n").expect("write"), 5);
            assert_eq!(held_len(), None);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn a_worker_holds_lines_until_the_batch_is_full_or_flushed() {
        std::thread::spawn(|| {
            drop(buffer_this_thread());
            let access = b"{\"msg\":\"access\"}\n";
            Line.write_all(access).expect("write");
            assert_eq!(held_len(), Some(access.len()), "held, not written");
            flush();
            assert_eq!(held_len(), Some(0));
            let line = vec![b'x'; 1000];
            for _ in 0..(FLUSH_BYTES / 1000) {
                Line.write_all(&line).expect("write");
            }
            assert_eq!(held_len(), Some(FLUSH_BYTES / 1000 * 1000));
            Line.write_all(&line).expect("write");
            assert_eq!(held_len(), Some(0), "written out once past FLUSH_BYTES");
        })
        .join()
        .expect("thread");
    }
}
