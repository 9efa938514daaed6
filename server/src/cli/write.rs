//! Reading checked files and writing fixed ones back without ever losing either version.
//!
//! `--fix` must leave every file either as it was or completely fixed, whatever happens: a full
//! disk, a kill, an editor saving the file while the run was busy. So a fixed file is written to a
//! temporary file in the same folder, flushed to disk, given the original's permissions and
//! owner, and only then renamed over the original (one atomic step on POSIX file systems), after a
//! last look that the original is still what was read. Symbolic links are written through: the
//! link stays and its target gets the new text. A file with several hard links gets a new inode
//! under the name that was checked; the other names keep the old text (see [`Written`]).

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::SystemTime;

/// What a file was when it was read: compared again right before its fixed version replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    len: u64,
    modified: Option<SystemTime>,
    hash: u64,
}

impl Snapshot {
    fn of(metadata: &fs::Metadata, bytes: &[u8]) -> Snapshot {
        Snapshot {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            hash: content_hash(bytes),
        }
    }
}

/// A content hash for change detection (not adversarial input: a save by an editor or a tool).
fn content_hash(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Reads a file and remembers what it was. The metadata comes from the open handle, before the
/// read: a save racing with the read changes the modification time, and the write-back sees it.
pub fn read(path: &Path) -> io::Result<(Vec<u8>, Snapshot)> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    let snapshot = Snapshot::of(&metadata, &bytes);
    Ok((bytes, snapshot))
}

/// Why a fixed file was not written. The original is untouched in every case.
#[derive(Debug)]
pub enum WriteError {
    /// The file changed on disk after it was read (a save during the run): writing would lose it.
    Changed,
    /// Writing the new version failed (a full disk, a read-only folder, ...).
    Io(io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Changed => write!(
                f,
                "changed on disk while inbatch was checking it; the fixes were not written \
                 (run inbatch again)"
            ),
            WriteError::Io(error) => write!(
                f,
                "cannot write the fixed file: {error}; the file was left unchanged"
            ),
        }
    }
}

impl From<io::Error> for WriteError {
    fn from(error: io::Error) -> WriteError {
        WriteError::Io(error)
    }
}

/// What writing a fixed file did besides replacing its text.
#[derive(Debug, Default)]
pub struct Written {
    /// The file had this many hard links: the checked name now has its own inode with the fixed
    /// text, the other names keep the original text.
    pub detached_hard_links: Option<u64>,
}

/// Environment variable of the kill test: when set (to seconds), every write pauses that long
/// between flushing the temporary file and renaming it, after saying so on stderr.
pub const PAUSE_BEFORE_RENAME: &str = "INBATCH_TEST_PAUSE_BEFORE_RENAME";

/// Environment variable of the full-disk test where no small file system can be mounted: when set
/// (to a byte count), writing a fixed file fails as a full disk does after that many bytes.
pub const FAIL_WRITES_AFTER: &str = "INBATCH_TEST_FAIL_WRITES_AFTER";

/// The suffix of the temporary files (`.NAME.XXXXXX.inbatch.tmp` beside `NAME`): only a process
/// killed between writing one and renaming it leaves one behind.
pub const TEMPORARY_SUFFIX: &str = ".inbatch.tmp";

/// Replaces the file at `path` with `contents`, atomically, unless it changed since `snapshot`.
pub fn replace(path: &Path, snapshot: &Snapshot, contents: &[u8]) -> Result<Written, WriteError> {
    // Through symbolic links: the link stays a link, its target gets the text.
    let target = fs::canonicalize(path)?;
    let metadata = fs::metadata(&target)?;
    // The new version is a new file, which the folder's permissions allow even when the file's
    // own forbid writing: a read-only file stays read-only, as it would for a write in place.
    fs::OpenOptions::new().write(true).open(&target)?;
    let folder = target
        .parent()
        .ok_or_else(|| io::Error::other("the file has no folder"))?;
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::other("the path has no file name"))?
        .to_string_lossy();
    // Dropped on any error below: the temporary file is removed with it.
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(TEMPORARY_SUFFIX)
        .tempfile_in(folder)?;
    write_contents(temporary.as_file_mut(), contents)?;
    keep_owner_and_mode(temporary.as_file(), &metadata)?;
    temporary.as_file().sync_all()?;
    pause_for_kill_test(temporary.path(), &target);
    if !unchanged(&target, snapshot)? {
        return Err(WriteError::Changed);
    }
    temporary
        .persist(&target)
        .map_err(|error| WriteError::Io(error.error))?;
    // The rename itself is durable once the folder is flushed; some file systems cannot flush a
    // folder, and the file is already in place, so a failure here changes nothing.
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
    Ok(Written {
        detached_hard_links: hard_links(&metadata).filter(|&links| links > 1),
    })
}

/// Whether the file is still what was read: same size and modification time, same content.
fn unchanged(target: &Path, snapshot: &Snapshot) -> io::Result<bool> {
    let mut file = match File::open(target) {
        Ok(file) => file,
        // Deleted or moved away meanwhile: that is a change too.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if metadata.len() != snapshot.len || metadata.modified().ok() != snapshot.modified {
        return Ok(false);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(content_hash(&bytes) == snapshot.hash)
}

#[cfg(unix)]
fn keep_owner_and_mode(file: &File, original: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // Owner first: changing the owner clears set-user-id bits, which the mode then restores.
    // Only root may give a file away; a user may still keep its group when they belong to it.
    // Failing both, the fixed file belongs to whoever ran inbatch, as with any editor's save.
    if std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())).is_err() {
        let _ = std::os::unix::fs::fchown(file, None, Some(original.gid()));
    }
    file.set_permissions(original.permissions())
}

#[cfg(not(unix))]
fn keep_owner_and_mode(file: &File, original: &fs::Metadata) -> io::Result<()> {
    file.set_permissions(original.permissions())
}

#[cfg(unix)]
fn hard_links(metadata: &fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(metadata.nlink())
}

#[cfg(not(unix))]
fn hard_links(_: &fs::Metadata) -> Option<u64> {
    None
}

fn write_contents(file: &mut File, contents: &[u8]) -> io::Result<()> {
    let limit = std::env::var(FAIL_WRITES_AFTER)
        .ok()
        .and_then(|limit| limit.parse::<usize>().ok());
    match limit {
        Some(limit) if contents.len() > limit => {
            file.write_all(&contents[..limit])?;
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("no space left on device (injected by {FAIL_WRITES_AFTER})"),
            ))
        }
        _ => file.write_all(contents),
    }
}

fn pause_for_kill_test(temporary: &Path, target: &Path) {
    let Some(seconds) = std::env::var_os(PAUSE_BEFORE_RENAME) else {
        return;
    };
    let seconds: u64 = seconds.to_string_lossy().parse().unwrap_or(60);
    let _ = writeln!(
        io::stderr(),
        "inbatch test hook: paused before renaming {} over {}",
        temporary.display(),
        target.display()
    );
    std::thread::sleep(std::time::Duration::from_secs(seconds));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file_with(dir: &Path, name: &str, text: &str) -> (PathBuf, Snapshot) {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        let (_, snapshot) = read(&path).unwrap();
        (path, snapshot)
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(TEMPORARY_SUFFIX))
            .collect()
    }

    #[test]
    fn replaces_the_text_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, snapshot) = file_with(dir.path(), "a.py", "old\n");
        replace(&path, &snapshot, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        // Same length, so only the content hash (or the modification time) can tell.
        let (path, snapshot) = file_with(dir.path(), "a.py", "old\n");
        fs::write(&path, "odd\n").unwrap();
        assert!(matches!(
            replace(&path, &snapshot, b"new\n"),
            Err(WriteError::Changed)
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "odd\n");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_deleted_file_counts_as_changed_and_is_not_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let (path, snapshot) = file_with(dir.path(), "a.py", "old\n");
        fs::remove_file(&path).unwrap();
        assert!(replace(&path, &snapshot, b"new\n").is_err());
        assert!(!path.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = file_with(dir.path(), "a.py", "old\n");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o754)).unwrap();
        let (_, snapshot) = read(&path).unwrap();
        replace(&path, &snapshot, b"new\n").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o754);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_stays_a_link_and_its_target_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let (target, _) = file_with(&dir.path().join("real"), "a.py", "old\n");
        let link = dir.path().join("link.py");
        std::os::unix::fs::symlink("real/a.py", &link).unwrap();
        let (_, snapshot) = read(&link).unwrap();
        replace(&link, &snapshot, b"new\n").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("real/a.py"));
        assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
        assert!(leftovers(dir.path()).is_empty());
        assert!(leftovers(&dir.path().join("real")).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_linked_file_is_detached_and_its_other_names_keep_the_old_text() {
        let dir = tempfile::tempdir().unwrap();
        let (path, snapshot) = file_with(dir.path(), "a.py", "old\n");
        let other = dir.path().join("b.py");
        fs::hard_link(&path, &other).unwrap();
        let written = replace(&path, &snapshot, b"new\n").unwrap();
        assert_eq!(written.detached_hard_links, Some(2));
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(&other).unwrap(), "old\n");
    }
}
