//! One run per repository at a time: an exclusive `flock(2)` on
//! `<git-common-dir>/twostage/run.lock` (so every linked worktree shares it), held by `release`,
//! `stage`, `verify`, `promote` and the hooks that run them, with a small text record of the
//! holder (pid, the process's start time, the command, since when) in the same file for the
//! message a second run gets.
//!
//! The kernel releases a `flock` when its holder dies, however it dies
//! (https://man7.org/linux/man-pages/man2/flock.2.html), so a lock is never stale: a record
//! left behind by a killed run is only overwritten, with a message. The descriptor is opened
//! close-on-exec, so a build or an installer left running by a killed run does not keep it.
//!
//! Re-entrant for descendants: `release --push` holds the lock while git runs the pre-push hook,
//! which runs `stage` in a child process, and `release` fires the post-tag hook the same way.
//! A run that finds the lock held by one of its own ancestors (the record's pid, with the same
//! start time, read from `/proc/<pid>/stat`, is on its chain of parents) goes on without it: the
//! ancestor is waiting for it. Nothing is passed down in the environment, so no unrelated
//! process can claim the lock. Within one process the lock is re-entrant too (`stage` called
//! by the pre-push hook's entry point). This module knows nothing of releases.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::output;

/// The file of the lock, below the twostage state folder.
const FILE: &str = "run.lock";

/// How often a waiting run says that it still waits.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// How long a run waits for a new holder to write its record, to name it.
const RECORD_WAIT: Duration = Duration::from_secs(2);

/// How long `Wait::patient` waits by default (`TWOSTAGE_LOCK_WAIT` sets it): a stage with a
/// slow build and many files to verify takes minutes.
const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);

/// What a run does when another holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Refuse at once, naming the holder.
    Refuse,
    /// Wait up to this long, saying so, then refuse naming the holder.
    Upto(Duration),
}

impl Wait {
    /// `TWOSTAGE_LOCK_WAIT` (`90s`, `10m`, `0` to refuse at once), else 30 minutes.
    pub fn patient() -> Wait {
        let configured = std::env::var("TWOSTAGE_LOCK_WAIT")
            .ok()
            .and_then(|v| crate::config::parse_duration(&v));
        match configured.unwrap_or(DEFAULT_WAIT) {
            d if d.is_zero() => Wait::Refuse,
            d => Wait::Upto(d),
        }
    }
}

/// Who holds (or last held) the lock, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22): a
    /// pid that is reused belongs to a process that started later.
    pub start: u64,
    /// Seconds since the Unix epoch.
    pub since: u64,
    pub command: String,
}

/// What became of the process a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Running,
    Gone,
    /// The pid is another process's now.
    Reused,
}

impl Holder {
    /// The record as written in the lock file.
    pub fn to_text(&self) -> String {
        format!(
            "pid = {}\nstart = {}\nsince = {}\ncommand = {}\n",
            self.pid,
            self.start,
            self.since,
            self.command.replace(['\n', '\r'], " ")
        )
    }

    /// A record read back; `None` for an empty or garbled one (a holder that has not written
    /// its record yet, or a killed write).
    pub fn parse(text: &str) -> Option<Holder> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
        };
        Some(Holder {
            pid: field("pid")?.parse().ok()?,
            start: field("start")?.parse().ok()?,
            since: field("since")?.parse().ok()?,
            command: field("command")?.to_string(),
        })
    }

    /// Whether the recorded process still runs, given each pid's start time now.
    pub fn liveness(&self, start_of: impl Fn(u32) -> Option<u64>) -> Liveness {
        match start_of(self.pid) {
            None => Liveness::Gone,
            Some(start) if start == self.start => Liveness::Running,
            Some(_) => Liveness::Reused,
        }
    }

    /// `pid 4242 (`twostage stage v1.4.3`) since 10:51:02 UTC (12s ago)`.
    pub fn describe(&self, now: u64) -> String {
        let t = self.since % 86_400;
        format!(
            "pid {} (`{}`) since {:02}:{:02}:{:02} UTC ({}s ago)",
            self.pid,
            self.command,
            t / 3600,
            t / 60 % 60,
            t % 60,
            now.saturating_sub(self.since)
        )
    }
}

/// The lock while this run holds it; dropping it releases it (the outermost hold in this
/// process clears the record and closes the file, which ends the `flock`).
#[must_use = "the lock is released when this is dropped"]
pub struct Held {
    path: Option<PathBuf>,
}

/// The locks this process holds: the path, the open file, and how many holds are nested.
static HELD: Mutex<Vec<(PathBuf, File, usize)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(PathBuf, File, usize)>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(path) = &self.path else { return };
        let mut held = held();
        let Some(i) = held.iter().position(|(p, _, _)| p == path) else {
            return;
        };
        held[i].2 -= 1;
        if held[i].2 == 0 {
            let (_, file, _) = held.remove(i);
            // The record goes before the lock does, so a new holder's record is never cleared.
            let _ = file.set_len(0);
        }
    }
}

/// Takes the lock of the repository whose git common folder is `common_dir`, for `what` this
/// run is (`release`, `stage v1.4.3`), waiting or refusing as `wait` says.
pub fn hold(common_dir: &Path, wait: Wait) -> Result<Held> {
    let dir = common_dir.join("twostage");
    let path = dir.join(FILE);
    if let Some(entry) = held().iter_mut().find(|(p, _, _)| *p == path) {
        entry.2 += 1;
        return Ok(Held { path: Some(path) });
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock `{}`", path.display()))?;
    let started = Instant::now();
    let mut said: Option<Instant> = None;
    while !try_lock(&file).with_context(|| format!("cannot lock `{}`", path.display()))? {
        // A record of a process that is not running is a killed run's, read before the new
        // holder wrote its own: give the holder a moment to say who it is. (Without `/proc`
        // no process's start time is known, and the record is taken as it is.)
        let holder = Holder::parse(&read(&mut file)).filter(|h| {
            start_time(std::process::id()).is_none() || h.liveness(start_time) == Liveness::Running
        });
        if holder.is_none() && started.elapsed() < RECORD_WAIT {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if holder.as_ref().is_some_and(is_ancestor) {
            // Our own ancestor holds it and waits for us (a hook it fired).
            return Ok(Held { path: None });
        }
        let who = holder.map_or_else(
            || "a twostage run that has not written its record yet".to_string(),
            |h| h.describe(now()),
        );
        let limit = match wait {
            Wait::Refuse => bail!(
                "another twostage run holds the lock of this repository: {who}; wait for it to \
                 end, then run this again (the lock is `{}`)",
                path.display()
            ),
            Wait::Upto(limit) => limit,
        };
        if started.elapsed() >= limit {
            bail!(
                "gave up after {}s waiting for the lock of this repository, held by {who}: \
                 wait for it to end and run this again, or wait longer with \
                 `TWOSTAGE_LOCK_WAIT=30m` (the lock is `{}`)",
                limit.as_secs(),
                path.display()
            );
        }
        if said.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            output::status(
                "Waiting",
                format!(
                    "for the lock of this repository, held by {who} ({}s so far, up to {}s)",
                    started.elapsed().as_secs(),
                    limit.as_secs()
                ),
            );
            said = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    take_over(&mut file, &path)?;
    held().push((path.clone(), file, 1));
    Ok(Held { path: Some(path) })
}

/// With the lock taken: says whose record was left behind (a run that was killed), and
/// writes ours.
fn take_over(file: &mut File, path: &Path) -> Result<()> {
    if let Some(previous) = Holder::parse(&read(file)) {
        let what = match previous.liveness(start_time) {
            Liveness::Gone => "which is gone",
            Liveness::Reused => "whose pid is another process's now",
            Liveness::Running => "which let it go without clearing its record",
        };
        output::warn(format!(
            "taking over the lock of this repository from {}, {what}: it was interrupted, \
             killed or crashed, so what it was doing may be half done; this run takes it from \
             there",
            previous.describe(now())
        ));
    }
    let pid = std::process::id();
    let me = Holder {
        pid,
        start: start_time(pid).unwrap_or(0),
        since: now(),
        command: command_line(),
    };
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(me.to_text().as_bytes())?;
        file.sync_data()
    };
    write(file).with_context(|| format!("cannot write the lock's record `{}`", path.display()))
}

/// `flock(LOCK_EX | LOCK_NB)`: whether the lock was taken.
fn try_lock(file: &File) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock(2) on a descriptor this process owns for as long as `file` lives.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}

fn read(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    text
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This run's command line, as the record shows it: the program's file name and its
/// arguments, any credentials in a URL (a hook's remote) masked.
fn command_line() -> String {
    let mut words = std::env::args();
    let program = words
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    std::iter::once(program)
        .chain(words.map(|w| crate::resources::secrets::redact(&w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parent pid and the start time of a process, from the text of its `/proc/<pid>/stat`
/// (https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html): the command name in field 2
/// may hold spaces and parentheses, so the fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid (4), … starttime (22).
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn stat(pid: u32) -> Option<(u32, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// Whether the holder is this process's parent, grandparent, …: the same pid with the same
/// start time on the chain of parents.
fn is_ancestor(holder: &Holder) -> bool {
    let mut pid = std::process::id();
    for _ in 0..256 {
        let Some((parent, _)) = stat(pid) else {
            return false;
        };
        if parent <= 1 {
            return false;
        }
        if parent == holder.pid {
            return start_time(parent) == Some(holder.start);
        }
        pid = parent;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder {
            pid: 4242,
            start: 987_654,
            since: 1_795_478_400 + 10 * 3600 + 51 * 60 + 2,
            command: "twostage stage v1.4.3".into(),
        }
    }

    #[test]
    fn the_record_reads_back_and_a_garbled_one_is_none() {
        let h = holder();
        assert_eq!(Holder::parse(&h.to_text()), Some(h.clone()));
        assert_eq!(Holder::parse(""), None);
        assert_eq!(Holder::parse("pid = 12\nstart = x\n"), None);
        // A truncated write: the command line is missing.
        let text = h.to_text();
        assert_eq!(Holder::parse(&text[..text.find("command").unwrap()]), None);
        // A command line with a newline stays one line.
        let odd = Holder {
            command: "a\nb".into(),
            ..holder()
        };
        assert_eq!(Holder::parse(&odd.to_text()).unwrap().command, "a b");
    }

    #[test]
    fn a_holder_is_running_gone_or_its_pid_reused() {
        let h = holder();
        assert_eq!(h.liveness(|_| Some(987_654)), Liveness::Running);
        assert_eq!(h.liveness(|_| None), Liveness::Gone);
        assert_eq!(h.liveness(|_| Some(987_999)), Liveness::Reused);
    }

    #[test]
    fn the_holder_is_named_with_its_command_and_since_when() {
        let h = holder();
        assert_eq!(
            h.describe(h.since + 12),
            "pid 4242 (`twostage stage v1.4.3`) since 10:51:02 UTC (12s ago)"
        );
    }

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let text = "77 (a) b (c)) S 12 77 77 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 5555 1000 10";
        assert_eq!(parse_stat(text), Some((12, 5555)));
        assert_eq!(parse_stat("garbage"), None);
        let me = std::process::id();
        let (parent, start) = stat(me).expect("/proc/self/stat");
        assert_eq!(parent, std::os::unix::process::parent_id());
        assert!(start > 0);
    }

    #[test]
    fn the_lock_is_reentrant_in_a_process_and_its_record_cleared_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let outer = hold(dir.path(), Wait::Refuse).unwrap();
        let inner = hold(dir.path(), Wait::Refuse).unwrap();
        let path = dir.path().join("twostage").join(FILE);
        let record = Holder::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(record.pid, std::process::id());
        drop(inner);
        assert!(!std::fs::read_to_string(&path).unwrap().is_empty());
        drop(outer);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
