//! One pipe of a child (stdout or stderr) read into bounded lines, and paced under a flood.
//!
//! Why not tokio's `ChildStdout`: a flooding child wakes the reader on every `write(2)`
//! (about 15 lines per read here), which costs both sides more than the lines themselves.
//! After a large read that emptied the pipe, [`ChildPipe::pause`] takes the pipe out of the
//! event loop for [`FLOOD_PAUSE`], so the child's writes gather in the (enlarged) kernel
//! buffer without waking anybody, and the next read takes hundreds of lines at once. A pipe
//! that stays registered would still wake the loop on every write, even while nobody reads.
//! Single lines are never delayed.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::unix::AsyncFd;
use tokio_util::codec::Decoder;

use crate::line_codec::BoundedLineCodec;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    // The values index per-pipe arrays.
    /// The child's standard output.
    Stdout = 0,
    /// The child's standard error.
    Stderr = 1,
}

/// Bytes one read takes at most: the longest line fits, and a flood is read in large bites.
const READ_BYTES: usize = 64 * 1024;

/// The kernel buffer asked for each pipe (best effort: Linux caps it at
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default): a flooding child keeps writing while the
/// reader pauses. Kernel memory, the same for every child whatever it writes.
#[cfg(target_os = "linux")]
const PIPE_BYTES: i32 = 1 << 20;

/// How long a flooding pipe is left alone after a large read (see the module docs).
pub const FLOOD_PAUSE: Duration = Duration::from_millis(1);

/// A read this large that emptied the pipe means the child is flooding.
const FLOOD_READ_BYTES: usize = 1024;

thread_local! {
    /// One read buffer per thread: a read fills it and is copied out at once, so the pipes of
    /// a hundred children share it instead of holding 64 KiB each.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_BYTES]);
}

enum Watch {
    /// In the event loop: a read waits for data.
    Registered(AsyncFd<OwnedFd>),
    /// Out of the event loop for a flood pause.
    Paused(OwnedFd),
    /// At its end (or failed, which ends it the same way).
    Closed,
}

/// One pipe of a child and what was read from it but not yet cut into lines.
pub struct ChildPipe {
    watch: Watch,
    buf: BytesMut,
    codec: BoundedLineCodec,
    pipe: Pipe,
}

impl ChildPipe {
    /// Takes over a child's pipe (tokio's handle, made non-blocking again and enlarged);
    /// `None` or a pipe that cannot be watched is a closed pipe.
    pub fn new(handle: Option<impl IntoOwnedFd>, pipe: Pipe) -> Self {
        let watch = match handle.map(|h| h.into_owned_fd()) {
            Some(Ok(fd)) => {
                enlarge(&fd);
                match set_nonblocking(&fd).and_then(|()| register(fd)) {
                    Ok(fd) => Watch::Registered(fd),
                    Err(e) => {
                        tracing::warn!("a child's {pipe:?} cannot be read: {e}");
                        Watch::Closed
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!("a child's {pipe:?} cannot be read: {e}");
                Watch::Closed
            }
            None => Watch::Closed,
        };
        Self {
            watch,
            buf: BytesMut::new(),
            codec: BoundedLineCodec::default(),
            pipe,
        }
    }

    /// Whether the pipe may still bring lines.
    pub fn open(&self) -> bool {
        !matches!(self.watch, Watch::Closed)
    }

    /// Waits for data and reads it: the bytes read, 0 at the end. Cancel-safe (nothing is
    /// read until the read itself, which does not wait). A paused or closed pipe never reads.
    pub async fn read(&mut self) -> std::io::Result<usize> {
        let Watch::Registered(fd) = &self.watch else {
            return std::future::pending().await;
        };
        loop {
            let mut ready = fd.readable().await?;
            let read = ready.try_io(|fd| {
                SCRATCH.with_borrow_mut(|scratch| {
                    let n = nix::unistd::read(fd.get_ref().as_fd(), scratch)?;
                    self.buf.extend_from_slice(&scratch[..n]);
                    Ok(n)
                })
            });
            if let Ok(result) = read {
                return result;
            }
        }
    }

    /// Cuts what a read brought into lines appended to `out`; at the end of the pipe (or a
    /// read error, which ends it the same way) the unterminated rest too. Returns whether the
    /// child is flooding this pipe: a large read that emptied it (then [`ChildPipe::pause`]).
    pub fn after_read(
        &mut self,
        read: std::io::Result<usize>,
        out: &mut Vec<(Pipe, String)>,
    ) -> bool {
        let n = match read {
            Ok(n) if n > 0 => n,
            _ => {
                self.watch = Watch::Closed;
                while let Ok(Some(line)) = self.codec.decode_eof(&mut self.buf) {
                    out.push((self.pipe, line));
                }
                self.buf = BytesMut::new();
                return false;
            }
        };
        while let Ok(Some(line)) = self.codec.decode(&mut self.buf) {
            out.push((self.pipe, line));
        }
        (FLOOD_READ_BYTES..READ_BYTES).contains(&n)
    }

    /// Takes the pipe out of the event loop: the child's writes no longer wake anybody.
    pub fn pause(&mut self) {
        if let Watch::Registered(_) = self.watch {
            if let Watch::Registered(fd) = std::mem::replace(&mut self.watch, Watch::Closed) {
                self.watch = Watch::Paused(fd.into_inner());
            }
        }
    }

    /// Puts a paused pipe back into the event loop.
    pub fn resume(&mut self) {
        if let Watch::Paused(_) = self.watch {
            if let Watch::Paused(fd) = std::mem::replace(&mut self.watch, Watch::Closed) {
                match register(fd) {
                    Ok(fd) => self.watch = Watch::Registered(fd),
                    Err(e) => tracing::warn!("a child's {:?} cannot be read: {e}", self.pipe),
                }
            }
        }
    }
}

/// A child's pipe as tokio hands it out.
pub trait IntoOwnedFd {
    /// The pipe's file descriptor (blocking again, as tokio gives it back).
    fn into_owned_fd(self) -> std::io::Result<OwnedFd>;
}

impl IntoOwnedFd for tokio::process::ChildStdout {
    fn into_owned_fd(self) -> std::io::Result<OwnedFd> {
        tokio::process::ChildStdout::into_owned_fd(self)
    }
}

impl IntoOwnedFd for tokio::process::ChildStderr {
    fn into_owned_fd(self) -> std::io::Result<OwnedFd> {
        tokio::process::ChildStderr::into_owned_fd(self)
    }
}

/// Puts a pipe into the event loop, for reads only.
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is an open descriptor that only it closes, and its `as_raw_fd`
    // always returns that descriptor: what `register` asks for.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(std::io::Error::from)
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Asks for a larger kernel buffer (see [`PIPE_BYTES`]); keeps the default when refused.
fn enlarge(_fd: &OwnedFd) {
    #[cfg(target_os = "linux")]
    {
        use nix::fcntl::{fcntl, FcntlArg};
        if let Err(e) = fcntl(_fd, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES)) {
            tracing::debug!("a child's pipe keeps its default size: {e}");
        }
    }
}

impl IntoOwnedFd for OwnedFd {
    fn into_owned_fd(self) -> std::io::Result<OwnedFd> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_lines(pipe: &mut ChildPipe) -> (Vec<(Pipe, String)>, bool) {
        let mut out = vec![];
        let read = tokio::time::timeout(Duration::from_secs(10), pipe.read())
            .await
            .expect("the pipe has data");
        let flooding = pipe.after_read(read, &mut out);
        (out, flooding)
    }

    fn lines(v: &[(Pipe, String)]) -> Vec<&str> {
        v.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[tokio::test]
    async fn what_is_written_while_paused_is_read_after_resume_and_the_rest_at_the_end() {
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let mut pipe = ChildPipe::new(Some(rx), Pipe::Stderr);
        nix::unistd::write(&tx, b"one\ntw").unwrap();
        let (first, flooding) = read_lines(&mut pipe).await;
        assert_eq!(lines(&first), ["one"]);
        assert_eq!(first[0].0, Pipe::Stderr);
        assert!(!flooding, "a few bytes are not a flood");

        pipe.pause();
        assert!(pipe.open());
        nix::unistd::write(&tx, b"o\nthree\nfour").unwrap();
        pipe.resume();
        let (second, _) = read_lines(&mut pipe).await;
        assert_eq!(lines(&second), ["two", "three"]);

        drop(tx);
        let (last, _) = read_lines(&mut pipe).await;
        assert_eq!(lines(&last), ["four"]);
        assert!(!pipe.open());
    }

    #[tokio::test]
    async fn a_large_read_that_empties_the_pipe_is_a_flood_and_a_full_one_reads_on() {
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let mut pipe = ChildPipe::new(Some(rx), Pipe::Stdout);
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let many: Vec<u8> = line.repeat(100);
        nix::unistd::write(&tx, &many).unwrap();
        let (got, flooding) = read_lines(&mut pipe).await;
        assert_eq!(got.len(), 100);
        assert!(flooding, "10 000 bytes at once: pause before the next read");

        // More than one read takes (the pipe was enlarged, so it all fits): the first read
        // fills its buffer, so there is no pause before the next.
        let count = READ_BYTES / 100 + 50;
        nix::unistd::write(&tx, &line.repeat(count)).unwrap();
        let (got, flooding) = read_lines(&mut pipe).await;
        assert_eq!(got.len(), READ_BYTES / 100);
        assert!(!flooding, "a full read: read on at once");
        let (rest, flooding) = read_lines(&mut pipe).await;
        assert_eq!(got.len() + rest.len(), count);
        assert!(flooding);
    }
}
