//! Installs a freshly built plugin binary without ever leaving a window with no binary.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// What [`install_binary`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The destination already held a byte-identical binary; nothing was written.
    Unchanged,
    /// The new binary replaced (or created) the destination.
    Installed,
}

/// Copies `src` to `dst` through a temporary file in `dst`'s directory and an atomic rename,
/// keeping `src`'s permissions. Skips the copy when `dst` is byte-identical to `src`.
///
/// Blocking: call it from a blocking thread, not from an actor.
pub fn install_binary(src: &Path, dst: &Path) -> io::Result<InstallOutcome> {
    if same_contents(src, dst)? {
        return Ok(InstallOutcome::Unchanged);
    }
    let dir = created_parent(dst)?;
    let tmp = dir.join(format!(".plugin.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        fs::copy(src, &tmp)?;
        fs::set_permissions(&tmp, fs::metadata(src)?.permissions())?;
        // No fsync: the rename is what makes the swap atomic for whoever runs the binary
        // (they see the old file or the new one, never a partial one). Durability across a
        // power loss buys nothing here: the binary is rebuilt from source on the next start,
        // and ext4 flushes a file renamed over an existing one anyway.
        fs::rename(&tmp, dst)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| InstallOutcome::Installed)
}

/// The binary that [`install_built`] replaced, still open (`None` when there was none).
///
/// Why: the running plugin maps the replaced file, so when it exits the last reference goes
/// and the kernel frees the file's storage in the exiting process (several milliseconds for
/// tens of MiB on ext4), which delays its exit and so the relaunch. Held open here, that work
/// happens where this is dropped: on a blocking thread once the new plugin serves.
#[derive(Debug)]
pub struct ReplacedBinary(pub Option<fs::File>);

/// Moves the binary a build just wrote next to `dst` (same directory) into place with one
/// rename: nothing is copied on the way to serving. When `dst` already holds exactly that
/// binary, the new file is removed and nothing changes.
pub fn install_built(next: &Path, dst: &Path) -> io::Result<(InstallOutcome, ReplacedBinary)> {
    if same_contents(next, dst)? {
        fs::remove_file(next)?;
        return Ok((InstallOutcome::Unchanged, ReplacedBinary(None)));
    }
    // Only a regular file is held (opening a FIFO put there would block).
    let replaced = ReplacedBinary(crate::untrusted_file::open_regular(dst).ok());
    fs::rename(next, dst)?;
    Ok((InstallOutcome::Installed, replaced))
}

/// Puts `contents` at `dst` through a temporary file in its directory and a rename, so that
/// a reader sees the old file or the new one, never a part; true when `dst` changed (nothing
/// is written when it already holds exactly `contents`).
pub fn replace_file(dst: &Path, contents: &[u8]) -> io::Result<bool> {
    // Read as a file anyone may have put there (a FIFO would block a plain read).
    let old = crate::untrusted_file::read_untrusted(dst, contents.len() as u64);
    if old.is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    let dir = created_parent(dst)?;
    let tmp = dir.join(format!(".replace.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = fs::write(&tmp, contents).and_then(|()| fs::rename(&tmp, dst));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// The directory `dst` goes in, created if needed.
fn created_parent(dst: &Path) -> io::Result<&Path> {
    let dir = dst.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent", dst.display()),
        )
    })?;
    fs::create_dir_all(dir)?;
    Ok(dir)
}

fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (ma, mb) = match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => (ma, mb),
        (Err(e), _) => return Err(e),
        (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        (_, Err(e)) => return Err(e),
    };
    // Only two regular files are compared: opening a FIFO put at `b` would block.
    if !mb.is_file() || ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn installs_then_skips_identical_then_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("built");
        let dst = dir.path().join("state/plugins/p/bin/plugin");
        fs::write(&src, b"v1").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();

        assert_eq!(
            install_binary(&src, &dst).unwrap(),
            InstallOutcome::Installed
        );
        assert_eq!(fs::read(&dst).unwrap(), b"v1");
        assert_eq!(
            fs::metadata(&dst).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            install_binary(&src, &dst).unwrap(),
            InstallOutcome::Unchanged
        );

        fs::write(&src, b"v2").unwrap();
        assert_eq!(
            install_binary(&src, &dst).unwrap(),
            InstallOutcome::Installed
        );
        assert_eq!(fs::read(&dst).unwrap(), b"v2");
        let leftovers: Vec<_> = fs::read_dir(dst.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_file_is_replaced_whole_and_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("plugins/p/plugin.yaml");
        assert!(replace_file(&dst, b"id: p\nversion: 1\n").unwrap());
        assert_eq!(fs::read(&dst).unwrap(), b"id: p\nversion: 1\n");
        let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&dst).unwrap());
        assert!(!replace_file(&dst, b"id: p\nversion: 1\n").unwrap());
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&fs::metadata(&dst).unwrap()),
            inode,
            "unchanged: not rewritten"
        );
        assert!(replace_file(&dst, b"id: p\nversion: 2\n").unwrap());
        assert_eq!(fs::read(&dst).unwrap(), b"id: p\nversion: 2\n");
        let leftovers: Vec<_> = fs::read_dir(dst.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left");
    }

    #[test]
    fn a_fifo_where_a_file_goes_is_replaced_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("plugin.yaml");
        nix::unistd::mkfifo(&dst, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(
            replace_file(&dst, b"").unwrap(),
            "even empty contents replace a FIFO"
        );
        assert!(fs::metadata(&dst).unwrap().is_file());
        let bin = dir.path().join("plugin");
        let next = dir.path().join(".plugin.next");
        nix::unistd::mkfifo(&bin, nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::write(&next, b"").unwrap();
        let (outcome, _) = install_built(&next, &bin).unwrap();
        assert_eq!(outcome, InstallOutcome::Installed);
        assert!(fs::metadata(&bin).unwrap().is_file());
    }

    #[test]
    fn a_missing_source_is_an_error_and_keeps_the_old_binary() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("plugin");
        fs::write(&dst, b"old").unwrap();
        assert!(install_binary(&dir.path().join("nope"), &dst).is_err());
        assert_eq!(fs::read(&dst).unwrap(), b"old");
    }

    #[test]
    fn a_built_binary_is_renamed_into_place_or_dropped_when_identical() {
        let dir = tempfile::tempdir().unwrap();
        let (next, dst) = (dir.path().join(".plugin.next"), dir.path().join("plugin"));
        fs::write(&next, b"v1").unwrap();
        let (outcome, replaced) = install_built(&next, &dst).unwrap();
        assert_eq!(outcome, InstallOutcome::Installed);
        assert!(replaced.0.is_none(), "nothing was there before");
        assert_eq!(fs::read(&dst).unwrap(), b"v1");
        assert!(!next.exists());
        fs::write(&next, b"v1").unwrap();
        let (outcome, replaced) = install_built(&next, &dst).unwrap();
        assert_eq!(outcome, InstallOutcome::Unchanged);
        assert!(replaced.0.is_none());
        assert!(!next.exists(), "an identical build leaves nothing behind");
        fs::write(&next, b"v2").unwrap();
        let (outcome, replaced) = install_built(&next, &dst).unwrap();
        assert_eq!(outcome, InstallOutcome::Installed);
        assert_eq!(fs::read(&dst).unwrap(), b"v2");
        let mut old = Vec::new();
        replaced
            .0
            .expect("the replaced binary is held open")
            .read_to_end(&mut old)
            .unwrap();
        assert_eq!(old, b"v1", "the replaced file itself, not the new one");
        assert!(install_built(&dir.path().join("none"), &dst).is_err());
        assert_eq!(
            fs::read(&dst).unwrap(),
            b"v2",
            "a missing build keeps the binary"
        );
    }
}
