//! Reads files that anyone may have put in place (`.devinfo`, run files, `plugin.yaml`,
//! `go.work`) without ever blocking and without reading more than a cap.
//!
//! A plain `open` of a FIFO waits for a writer, and a read of a device may never end: both
//! would freeze every actor sharing the thread. The file is opened with `O_NONBLOCK` (which
//! returns at once for a FIFO), checked with `fstat` to be a regular file, and read up to the
//! cap. Symbolic links are followed: what counts is the file they lead to.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why an untrusted file was not read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFileError {
    /// Nothing at that path (or a dangling link).
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    /// A FIFO, socket, device or directory where a regular file belongs.
    #[error(
        "`{path}` is a {kind}, not a regular file: remove it, or replace it with a regular file"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    /// Larger than the cap for this kind of file.
    #[error(
        "`{path}` is larger than {max} bytes, more than such a file can hold: check what wrote it"
    )]
    TooLarge { path: PathBuf, max: u64 },
    /// Any other failure (permissions, I/O).
    #[error("cannot read `{path}`: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl UntrustedFileError {
    /// True when nothing is at the path.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing(_))
    }
}

/// What a file type is called in messages.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO (named pipe)"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Opens `path` for reading without blocking; only a regular file is returned.
pub fn open_regular(path: &Path) -> Result<File, UntrustedFileError> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(UntrustedFileError::Missing(path.to_path_buf()))
        }
        // A socket cannot be opened (ENXIO); say what is there rather than the errno.
        Err(source) => {
            return Err(match std::fs::metadata(path) {
                Ok(meta) if !meta.is_file() => UntrustedFileError::NotRegular {
                    path: path.to_path_buf(),
                    kind: kind_of(meta.file_type()),
                },
                _ => UntrustedFileError::Io {
                    path: path.to_path_buf(),
                    source,
                },
            })
        }
    };
    let meta = file.metadata().map_err(|source| UntrustedFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(UntrustedFileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// The content of the regular file at `path`, at most `max` bytes.
pub fn read_untrusted(path: &Path, max: u64) -> Result<Vec<u8>, UntrustedFileError> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| UntrustedFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(UntrustedFileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// [`read_untrusted`] as UTF-8 text (invalid UTF-8 is an I/O error of kind `InvalidData`).
pub fn read_untrusted_text(path: &Path, max: u64) -> Result<String, UntrustedFileError> {
    let bytes = read_untrusted(path, max)?;
    String::from_utf8(bytes).map_err(|e| UntrustedFileError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

/// Creates `path` afresh for writing (mode 0600), whatever was there: a file, a link, a FIFO
/// someone put at a predictable temporary name. It is removed first and the new file is
/// created exclusively without following links, so the write can neither block on a FIFO
/// nor land elsewhere through a link.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }

    /// Every special file kind, directly and behind a symbolic link, is refused at once.
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let subdir = dir.path().join("subdir");
        std::fs::create_dir(&subdir).unwrap();
        let cases: Vec<(PathBuf, &str)> = vec![
            (fifo, "FIFO"),
            (socket, "socket"),
            (PathBuf::from("/dev/zero"), "character device"),
            (subdir, "directory"),
        ];
        for (target, kind) in cases {
            let link = dir.path().join(format!(
                "link-to-{}",
                target.file_name().unwrap().to_string_lossy()
            ));
            std::os::unix::fs::symlink(&target, &link).unwrap();
            for path in [&target, &link] {
                let started = Instant::now();
                let err = read_untrusted(path, 1024).unwrap_err();
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{path:?} blocked"
                );
                assert!(
                    matches!(&err, UntrustedFileError::NotRegular { kind: k, .. } if k.contains(kind)),
                    "{path:?}: {err}"
                );
                assert!(err.to_string().contains("not a regular file"), "{err}");
            }
        }
    }

    #[test]
    fn regular_files_are_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_untrusted(&path, 5).unwrap(), b"12345");
        let err = read_untrusted(&path, 4).unwrap_err();
        assert!(
            matches!(err, UntrustedFileError::TooLarge { max: 4, .. }),
            "{err}"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(read_untrusted_text(&link, 100).unwrap(), "12345");
    }

    #[test]
    fn missing_and_dangling_paths_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_untrusted(&dir.path().join("none"), 10)
            .unwrap_err()
            .is_missing());
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("none"), &link).unwrap();
        assert!(read_untrusted(&link, 10).unwrap_err().is_missing());
    }

    #[test]
    fn a_fresh_file_replaces_a_fifo_or_link_without_blocking() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("run.json.tmp");
        mkfifo(&fifo);
        let mut f = create_fresh(&fifo).unwrap();
        f.write_all(b"{}").unwrap();
        assert_eq!(read_untrusted(&fifo, 10).unwrap(), b"{}");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        create_fresh(&link).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
    }
}
