//! Drains a child's stdout and stderr into its owning actor and reports its exit.
//!
//! Not an actor: a task on the owner's arbiter that forwards the lines as [`ChildLines`]
//! batches (the lines of one read, up to [`MAX_BATCH_LINES`]: one message per pipe read, not
//! per line; a flood is read in large bites, see [`crate::child_pipe`]) and then one [`ChildExited`]. The pipes are read to
//! the end whatever the owner does, so a child is never blocked on a full pipe. Each spawn
//! carries a `run` number so that an owner can ignore lines of a process it has already
//! replaced.

use std::process::ExitStatus;
use std::time::Duration;

use actix::prelude::*;
use tokio::process::Child;

use crate::child_pipe::{ChildPipe, FLOOD_PAUSE};

pub use crate::child_pipe::Pipe;

/// Lines of a child's output in the order they were read, each with its pipe.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ChildLines {
    pub run: u64,
    pub lines: Vec<(Pipe, String)>,
}

/// Most lines in one [`ChildLines`]: bounds a message while a flood is read.
pub const MAX_BATCH_LINES: usize = 1024;

/// The child exited (after its output was forwarded); `None` if waiting for it failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ChildExited {
    pub run: u64,
    pub status: Option<ExitStatus>,
}

impl ChildExited {
    /// How the child ended, in words ("exited with code 1", "killed by SIGTERM", "ended").
    pub fn how(&self) -> String {
        self.status
            .as_ref()
            .map(crate::process::describe_exit)
            .unwrap_or_else(|| "ended".into())
    }
}

/// How long output still arriving after the exit is read, in case a grandchild holds a pipe.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// Forwards `child`'s output and exit to `owner`. Call it on the owner's arbiter.
pub fn forward_child<A>(mut child: Child, run: u64, owner: Addr<A>)
where
    A: Actor + Handler<ChildLines> + Handler<ChildExited>,
    A::Context: actix::dev::ToEnvelope<A, ChildLines> + actix::dev::ToEnvelope<A, ChildExited>,
{
    let mut out = ChildPipe::new(child.stdout.take(), Pipe::Stdout);
    let mut err = ChildPipe::new(child.stderr.take(), Pipe::Stderr);
    actix::spawn(async move {
        let mut exited: Option<Option<ExitStatus>> = None;
        let drain_deadline = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(drain_deadline);
        // The lines of the last read: room for as many up front, not regrown line by line.
        let mut room = 0;
        while out.open() || err.open() {
            let mut lines = Vec::with_capacity(room);
            let pause = tokio::select! {
                r = out.read(), if out.open() => out.after_read(r, &mut lines),
                r = err.read(), if err.open() => err.after_read(r, &mut lines),
                status = child.wait(), if exited.is_none() => {
                    exited = Some(status.ok());
                    drain_deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
                    false
                }
                _ = &mut drain_deadline, if exited.is_some() => break,
            };
            room = lines.len().min(MAX_BATCH_LINES);
            if lines.len() <= MAX_BATCH_LINES {
                if !lines.is_empty() {
                    deliver(&owner, ChildLines { run, lines }).await;
                }
            } else {
                // Many short lines in one read: messages stay bounded.
                let mut rest = lines.into_iter();
                loop {
                    let lines: Vec<_> = rest.by_ref().take(MAX_BATCH_LINES).collect();
                    if lines.is_empty() {
                        break;
                    }
                    deliver(&owner, ChildLines { run, lines }).await;
                }
            }
            if pause {
                out.pause();
                err.pause();
                tokio::time::sleep(FLOOD_PAUSE).await;
                out.resume();
                err.resume();
            }
        }
        let status = match exited {
            Some(status) => status,
            None => child.wait().await.ok(),
        };
        owner.do_send(ChildExited { run, status });
    });
}

/// How long the reader waits for its owner to take one batch before it reads on anyway.
const OWNER_PACE: Duration = Duration::from_secs(1);

/// Hands `lines` to the owner and waits until it has taken them (or [`OWNER_PACE`] passed):
/// a child writing faster than the owner can look at its lines is read at the owner's pace
/// (its writes wait in the pipe), instead of queueing without bound in the owner's mailbox.
/// An owner that is stuck or gone does not stop the reading: after the pace limit the batch
/// stays queued (or is dropped with the owner) and the pipe is drained on.
async fn deliver<A>(owner: &Addr<A>, lines: ChildLines)
where
    A: Actor + Handler<ChildLines>,
    A::Context: actix::dev::ToEnvelope<A, ChildLines>,
{
    let _ = tokio::time::timeout(OWNER_PACE, owner.send(lines)).await;
}

/// The log level of an output line: errors when the line says so, warnings for the rest of
/// stderr (tools print notices there), info otherwise.
pub fn level_for_line(pipe: Pipe, line: &str) -> crate::types::LogLevel {
    use crate::types::LogLevel;
    let plain = crate::ansi::strip_ansi(line);
    let trimmed = plain.trim_start().as_bytes();
    let starts = |prefix: &[u8]| {
        trimmed.len() >= prefix.len() && trimmed[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let bytes = plain.as_bytes();
    let says_error = memchr::memchr_iter(b':', bytes)
        .any(|colon| colon >= 6 && bytes[colon - 6..colon].eq_ignore_ascii_case(b" error"));
    if starts(b"error") || starts(b"npm error") || says_error {
        LogLevel::Error
    } else if pipe == Pipe::Stderr || starts(b"warn") {
        LogLevel::Warn
    } else {
        LogLevel::Info
    }
}

/// The last lines of a child's output, for error messages.
#[derive(Debug, Default)]
pub struct OutputTail {
    stdout: std::collections::VecDeque<String>,
    stderr: std::collections::VecDeque<String>,
}

impl OutputTail {
    const LINES: usize = 12;

    /// Lines the tail does not keep (judged after ANSI escapes are removed).
    fn is_blank(plain: &str) -> bool {
        plain.trim().is_empty()
    }

    /// Remembers `line`, forgetting the oldest beyond the limit.
    pub fn push(&mut self, pipe: Pipe, line: &str) {
        let q = match pipe {
            Pipe::Stdout => &mut self.stdout,
            Pipe::Stderr => &mut self.stderr,
        };
        let plain = crate::ansi::strip_ansi(line);
        if Self::is_blank(&plain) {
            return;
        }
        // The forgotten line's buffer is reused: a steady stream allocates nothing here.
        let mut kept = if q.len() >= Self::LINES {
            q.pop_front().unwrap_or_default()
        } else {
            String::new()
        };
        kept.clear();
        kept.push_str(plain.trim_end());
        q.push_back(kept);
    }

    /// Remembers the lines of a batch that the tail can keep: only the last ones of each
    /// pipe are looked at, so a flood costs nothing here.
    pub fn push_batch(&mut self, lines: &[(Pipe, String)]) {
        let mut wanted = [Self::LINES; 2];
        let mut start = lines.len();
        for (i, (pipe, line)) in lines.iter().enumerate().rev() {
            if wanted == [0, 0] {
                break;
            }
            let left = &mut wanted[*pipe as usize];
            if *left > 0 && !Self::is_blank(&crate::ansi::strip_ansi(line)) {
                *left -= 1;
            }
            start = i;
        }
        for (pipe, line) in &lines[start..] {
            self.push(*pipe, line);
        }
    }

    /// The stderr tail, or the stdout tail when stderr was empty, joined by newlines.
    pub fn text(&self) -> String {
        let q = if self.stderr.is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        q.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Forgets everything (a new process starts).
    pub fn clear(&mut self) {
        self.stdout.clear();
        self.stderr.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LogLevel;

    type Batches = Vec<Vec<(Pipe, String)>>;

    /// Collects what `forward_child` sends.
    #[derive(Default)]
    struct Collector {
        batches: Batches,
        exited: Option<tokio::sync::oneshot::Sender<Batches>>,
    }

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<ChildLines> for Collector {
        type Result = ();
        fn handle(&mut self, msg: ChildLines, _: &mut Self::Context) {
            self.batches.push(msg.lines);
        }
    }

    impl Handler<ChildExited> for Collector {
        type Result = ();
        fn handle(&mut self, _: ChildExited, _: &mut Self::Context) {
            if let Some(tx) = self.exited.take() {
                let _ = tx.send(std::mem::take(&mut self.batches));
            }
        }
    }

    async fn batches_of(script: &str) -> Vec<Vec<(Pipe, String)>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let owner = Collector {
            batches: vec![],
            exited: Some(tx),
        }
        .start();
        let spec = crate::process::ProcessSpec::new("sh", vec!["-c".into(), script.into()], ".");
        let child = spec.command().spawn().unwrap();
        forward_child(child, 1, owner);
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap()
            .unwrap()
    }

    #[actix::test]
    async fn a_flood_arrives_whole_in_order_in_bounded_batches() {
        let batches = batches_of("seq 1 20000; echo on-stderr >&2").await;
        let stdout: Vec<String> = batches
            .iter()
            .flatten()
            .filter(|(p, _)| *p == Pipe::Stdout)
            .map(|(_, l)| l.clone())
            .collect();
        let expected: Vec<String> = (1..=20000).map(|i| i.to_string()).collect();
        assert_eq!(stdout, expected);
        assert!(batches
            .iter()
            .flatten()
            .any(|(p, l)| *p == Pipe::Stderr && l == "on-stderr"));
        assert!(batches
            .iter()
            .all(|b| !b.is_empty() && b.len() <= MAX_BATCH_LINES));
        assert!(
            batches.len() < 20000 / 10,
            "lines travel in batches, not one message each: {} messages",
            batches.len()
        );
    }

    #[test]
    fn levels_follow_the_text_and_the_pipe() {
        let cases = [
            (Pipe::Stdout, "  ➜  Local: x", LogLevel::Info),
            (Pipe::Stderr, "npm warn config", LogLevel::Warn),
            (
                Pipe::Stderr,
                "Error: Port 1 is already in use",
                LogLevel::Error,
            ),
            (Pipe::Stderr, "npm error code 1", LogLevel::Error),
            (
                Pipe::Stdout,
                "\u{1b}[31merror\u{1b}[0m when starting",
                LogLevel::Error,
            ),
            (
                Pipe::Stdout,
                "12:00:01 [vite] Internal server Error: boom",
                LogLevel::Error,
            ),
            (Pipe::Stdout, "WARN: disk almost full", LogLevel::Warn),
        ];
        for (pipe, line, level) in cases {
            assert_eq!(level_for_line(pipe, line), level, "{line}");
        }
        for info in [
            "terror: no",
            "error",
            "x:error: y",
            "no errors: 0 found",
            ":",
        ] {
            let expected = if info.starts_with("error") {
                LogLevel::Error
            } else {
                LogLevel::Info
            };
            assert_eq!(level_for_line(Pipe::Stdout, info), expected, "{info}");
        }
    }

    #[test]
    fn tail_prefers_stderr_and_is_bounded() {
        let mut t = OutputTail::default();
        t.push(Pipe::Stdout, "out");
        assert_eq!(t.text(), "out");
        for i in 0..20 {
            t.push(Pipe::Stderr, &format!("err {i}"));
        }
        assert!(t.text().starts_with("err 8\n"));
        assert!(t.text().ends_with("err 19"));
    }

    #[test]
    fn a_batch_leaves_the_same_tail_as_its_lines_one_by_one() {
        let mut lines = Vec::new();
        for i in 0..40 {
            let pipe = if i % 3 == 0 {
                Pipe::Stderr
            } else {
                Pipe::Stdout
            };
            lines.push((pipe, format!("line {i}")));
            if i % 5 == 0 {
                lines.push((pipe, "   ".into()));
                lines.push((pipe, "\u{1b}[2K\r".into()));
            }
        }
        let (mut one_by_one, mut batched) = (OutputTail::default(), OutputTail::default());
        one_by_one.push(Pipe::Stdout, "earlier");
        batched.push(Pipe::Stdout, "earlier");
        for (pipe, line) in &lines {
            one_by_one.push(*pipe, line);
        }
        batched.push_batch(&lines);
        assert_eq!(batched.stdout, one_by_one.stdout);
        assert_eq!(batched.stderr, one_by_one.stderr);
        assert!(batched.text().ends_with("line 39"));
    }
}
