//! `inbatch check --fix` writing files back: a full disk, a kill in the middle of the write, a save
//! by someone else during the run, symbolic and hard links, permissions and owner. Every file must
//! end up either as it was or completely fixed, and a change made meanwhile is never overwritten.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{check_in, inbatch, stderr, N_PLUS_ONE};

/// The test hooks of `server/src/cli/write.rs`.
const PAUSE_BEFORE_RENAME: &str = "INBATCH_TEST_PAUSE_BEFORE_RENAME";
const FAIL_WRITES_AFTER: &str = "INBATCH_TEST_FAIL_WRITES_AFTER";
const TEMPORARY_SUFFIX: &str = ".inbatch.tmp";
/// What every run here asks of `check`: INB001 selected, its unsafe batch rewrites applied.
const FIX_UNSAFE: [&str; 4] = ["--extend-select", "INB001", "--fix", "--unsafe-fixes"];

/// A module of `count` functions, each with one N+1 loop that the unsafe fix rewrites (and grows).
fn functions(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "def load_{i}(session, ids):\n    result = []\n    for uid in ids:\n        \
                 result.append(session.get(User, uid))\n    return result\n\n\n"
            )
        })
        .collect()
}

/// What `--fix --unsafe-fixes` makes of `text`, fixed in a folder of its own.
fn fixed_version(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), text).unwrap();
    let output = check_in(dir.path(), &[FIX_UNSAFE.as_slice(), &[name]].concat());
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        stderr(&output)
    );
    let fixed = fs::read_to_string(dir.path().join(name)).unwrap();
    assert_ne!(fixed, text, "the fixture must have something to fix");
    fixed
}

/// Names of the temporary files left in `dir`.
fn temporary_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(TEMPORARY_SUFFIX))
        .collect()
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("`id` runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A tmpfs of `kibibytes`, when this process may mount one (root with `CAP_SYS_ADMIN`; a
    /// container's root often lacks it).
    fn mount(kibibytes: usize) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kibibytes}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with 4 KiB files until a write fails for want of space, then frees one:
    /// there is room for 4 KiB and no more. Returns whether the disk really was full.
    fn fill_leaving_one_page(&self) -> bool {
        let filler = self.path().join("filler");
        fs::create_dir(&filler).unwrap();
        let page = vec![b'x'; 4096];
        for i in 0.. {
            match fs::write(filler.join(i.to_string()), &page) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(28) => {
                    let _ = fs::remove_file(filler.join(i.to_string()));
                    fs::remove_file(filler.join("0")).unwrap();
                    return true;
                }
                Err(error) => panic!("filling the disk: {error}"),
            }
        }
        false
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A full disk at the moment of writing: the file keeps its old text, byte for byte, no temporary
/// file is left, the error names the file, exit 2 — and another file of the same run is fixed.
/// As root (`tests/run` here) the disk is a real 256 KiB tmpfs filled to the last page; where no
/// tmpfs can be mounted (not root, or a container without `CAP_SYS_ADMIN`), the writer's fault
/// injection fails the write the same way, and the test says so on stderr.
#[test]
fn a_full_disk_leaves_the_original_intact_and_other_files_are_still_fixed() {
    let original = functions(30);
    let fixed = fixed_version("many.py", &original);
    assert!(fixed.len() > 4096 + 1024, "the fixed file must not fit");
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("other.py"), N_PLUS_ONE).unwrap();
    let other_fixed = fixed_version("other.py", N_PLUS_ONE);

    let disk = running_as_root().then(|| SmallDisk::mount(256)).flatten();
    if disk.is_none() {
        eprintln!("no tmpfs could be mounted: the full disk is the writer's injected failure");
    }
    let plain = tempfile::tempdir().unwrap();
    let folder = disk.as_ref().map_or(plain.path(), SmallDisk::path);
    let target = folder.join("many.py");
    fs::write(&target, &original).unwrap();
    let mut command = inbatch();
    command
        .current_dir(elsewhere.path())
        .arg("check")
        .args(FIX_UNSAFE)
        .args(["other.py", target.to_str().unwrap()]);
    match &disk {
        Some(disk) => assert!(disk.fill_leaving_one_page(), "the tmpfs never filled up"),
        None => {
            command.env(FAIL_WRITES_AFTER, "4096");
        }
    }
    let output = command.stdin(Stdio::null()).output().unwrap();

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let errors = stderr(&output);
    assert!(
        errors.contains("many.py: cannot write the fixed file"),
        "{errors}"
    );
    assert!(errors.to_lowercase().contains("no space left"), "{errors}");
    assert!(errors.contains("the file was left unchanged"), "{errors}");
    assert_eq!(fs::read_to_string(&target).unwrap(), original);
    assert!(
        temporary_files(folder).is_empty(),
        "{:?}",
        temporary_files(folder)
    );
    assert_eq!(
        fs::read_to_string(elsewhere.path().join("other.py")).unwrap(),
        other_fixed
    );

    // With room again, the same run fixes it completely.
    if let Some(disk) = &disk {
        fs::remove_dir_all(disk.path().join("filler")).unwrap();
    }
    let again = check_in(folder, &[FIX_UNSAFE.as_slice(), &["many.py"]].concat());
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(fs::read_to_string(&target).unwrap(), fixed);
}

/// The fault injection itself (the path the full-disk test takes where it cannot mount a disk):
/// a write failing half way leaves the original and no temporary file.
#[test]
fn an_injected_write_failure_leaves_the_original_intact() {
    let dir = tempfile::tempdir().unwrap();
    let original = functions(5);
    fs::write(dir.path().join("a.py"), &original).unwrap();
    let output = inbatch()
        .current_dir(dir.path())
        .env(FAIL_WRITES_AFTER, "100")
        .arg("check")
        .args(FIX_UNSAFE)
        .args(["a.py"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no space left on device"));
    assert_eq!(
        fs::read_to_string(dir.path().join("a.py")).unwrap(),
        original
    );
    assert!(temporary_files(dir.path()).is_empty());
}

/// Starts `inbatch check --fix --unsafe-fixes .` in `dir` with every write pausing before its
/// rename, and waits until the first pause. Returns the child and the file it paused on.
fn start_paused(
    dir: &Path,
    seconds: u32,
) -> (
    std::process::Child,
    PathBuf,
    BufReader<std::process::ChildStderr>,
) {
    let mut child = inbatch()
        .current_dir(dir)
        .env(PAUSE_BEFORE_RENAME, seconds.to_string())
        .arg("check")
        .args(FIX_UNSAFE)
        .args(["."])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(stderr) = child.stderr.take() else {
        let _ = child.wait();
        panic!("standard error is piped");
    };
    let mut errors = BufReader::new(stderr);
    let mut line = String::new();
    loop {
        line.clear();
        if !matches!(errors.read_line(&mut line), Ok(1..)) {
            let status = child.wait();
            panic!("inbatch ended without pausing ({status:?})");
        }
        if let Some(rest) = line.trim_end().split(" over ").nth(1) {
            return (child, PathBuf::from(rest), errors);
        }
    }
}

/// SIGKILL between writing the new version and renaming it over the file: every file is its old or
/// its new text, never a mix or empty; the file being written is still old; the only leftovers are
/// the documented `.NAME.XXXXXX.inbatch.tmp` files, each holding a complete fixed version.
#[test]
fn a_kill_during_the_write_leaves_every_file_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..6).map(|i| format!("m{i}.py")).collect();
    let mut versions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let text = functions(i + 1);
        fs::write(dir.path().join(name), &text).unwrap();
        versions.push((text.clone(), fixed_version(name, &text)));
    }
    let (mut child, paused, _errors) = start_paused(dir.path(), 60);
    child.kill().unwrap();
    child.wait().unwrap();

    let paused_name = paused.file_name().unwrap().to_string_lossy().into_owned();
    for (name, (old, new)) in names.iter().zip(&versions) {
        let now = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(
            now == *old || now == *new,
            "{name} is neither old nor new:\n{now}"
        );
        if *name == paused_name {
            assert_eq!(now, *old, "{name} was replaced before its rename");
        }
    }
    let leftovers = temporary_files(dir.path());
    assert!(
        !leftovers.is_empty(),
        "the paused write's temporary file is gone"
    );
    for leftover in &leftovers {
        let (index, _) = names
            .iter()
            .enumerate()
            .find(|(_, name)| leftover.starts_with(&format!(".{name}.")))
            .unwrap_or_else(|| panic!("{leftover} is not named after a checked file"));
        let text = fs::read_to_string(dir.path().join(leftover)).unwrap();
        assert_eq!(
            text, versions[index].1,
            "{leftover} is not a complete fixed version"
        );
    }
    // The next run is not confused by them (they are not Python files) and finishes the job.
    let again = check_in(dir.path(), &[FIX_UNSAFE.as_slice(), &["."]].concat());
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    for (name, (_, new)) in names.iter().zip(&versions) {
        assert_eq!(fs::read_to_string(dir.path().join(name)).unwrap(), *new);
    }
}

/// A save made while `--fix` runs wins: the file is not written, the error says so (exit 2), and
/// the run's other files are still fixed.
#[test]
fn a_file_saved_during_the_run_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a.py", "b.py", "c.py"];
    let mut fixed = Vec::new();
    for name in names {
        fs::write(dir.path().join(name), N_PLUS_ONE).unwrap();
        fixed.push(fixed_version(name, N_PLUS_ONE));
    }
    let (mut child, paused, mut errors) = start_paused(dir.path(), 2);
    // An editor's save: same length, so only the content tells it apart.
    let saved = N_PLUS_ONE.replace("uid", "key");
    assert_eq!(saved.len(), N_PLUS_ONE.len());
    fs::write(&paused, &saved).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut errors, &mut rest).unwrap();

    assert_eq!(status.code(), Some(2), "{rest}");
    let paused_name = paused.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        rest.contains(&format!(
            "{paused_name}: changed on disk while inbatch was checking it"
        )),
        "{rest}"
    );
    assert_eq!(fs::read_to_string(&paused).unwrap(), saved);
    for (name, fixed) in names.iter().zip(&fixed) {
        if *name != paused_name {
            assert_eq!(&fs::read_to_string(dir.path().join(name)).unwrap(), fixed);
        }
    }
    assert!(temporary_files(dir.path()).is_empty());
}

/// A symbolic link named on the command line stays a link; the file it points to is fixed.
#[test]
fn a_symbolic_link_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("real")).unwrap();
    fs::write(dir.path().join("real/a.py"), N_PLUS_ONE).unwrap();
    std::os::unix::fs::symlink("real/a.py", dir.path().join("link.py")).unwrap();
    let output = check_in(
        dir.path(),
        &["--fix", "--unsafe-fixes", "--select", "INB001", "link.py"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let link = dir.path().join("link.py");
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("real/a.py"));
    assert_eq!(
        fs::read_to_string(dir.path().join("real/a.py")).unwrap(),
        fixed_version("a.py", N_PLUS_ONE)
    );
    assert!(temporary_files(dir.path()).is_empty());
    assert!(temporary_files(&dir.path().join("real")).is_empty());
}

/// A file with another hard link: the checked name gets the fixed text (a new file), the other
/// name keeps the original, and a warning says so without changing the exit code.
#[test]
fn a_hard_linked_file_is_detached_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.py"), N_PLUS_ONE).unwrap();
    fs::hard_link(dir.path().join("a.py"), dir.path().join("backup.py")).unwrap();
    let output = check_in(dir.path(), &[FIX_UNSAFE.as_slice(), &["a.py"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: a.py: had 2 hard links"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("a.py")).unwrap(),
        fixed_version("a.py", N_PLUS_ONE)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("backup.py")).unwrap(),
        N_PLUS_ONE
    );
}

/// The fixed file keeps its mode and, where the user may give files away (root), its owner and
/// group.
#[test]
fn permissions_and_owner_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.py");
    fs::write(&path, N_PLUS_ONE).unwrap();
    let root = running_as_root();
    if root {
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o754)).unwrap();
    let before = fs::metadata(&path).unwrap();
    let output = check_in(dir.path(), &[FIX_UNSAFE.as_slice(), &["a.py"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let after = fs::metadata(&path).unwrap();
    assert_ne!(
        after.ino(),
        before.ino(),
        "written as a new file and renamed"
    );
    assert_eq!(after.permissions().mode() & 0o7777, 0o754);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    if root {
        assert_eq!((after.uid(), after.gid()), (65534, 65534));
    }
}

/// A file its owner made read-only is not replaced, although its folder would allow a new file:
/// exit 2, the error names it. Run as an unprivileged user (root may write anything).
#[test]
fn a_read_only_file_is_not_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.py");
    fs::write(&path, N_PLUS_ONE).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let mut command = inbatch();
    if running_as_root() {
        for owned in [dir.path(), &path] {
            std::os::unix::fs::chown(owned, Some(65534), Some(65534)).unwrap();
        }
        std::os::unix::process::CommandExt::uid(&mut command, 65534);
        std::os::unix::process::CommandExt::gid(&mut command, 65534);
    }
    let output = command
        .current_dir(dir.path())
        .arg("check")
        .args(FIX_UNSAFE)
        .args(["a.py"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("a.py: cannot write the fixed file: Permission denied"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), N_PLUS_ONE);
    assert!(temporary_files(dir.path()).is_empty());
}
