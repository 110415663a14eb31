//! A clean stop on Ctrl-C (SIGINT) and SIGTERM. Children that run other people's code (the
//! build, installers, smoke commands) are started here, each in a process group of its own so
//! that a timeout can end all of its descendants; a terminal's Ctrl-C reaches only the
//! foreground group, so on an interrupt this module ends every group it started, says where
//! the release stands and which command resumes it, and exits with 130.
//!
//! The signal handler only writes a byte to a pipe (async-signal-safe); a watcher thread does
//! the rest. It knows nothing of releases: the stages describe themselves with `stand`.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The exit code of a process ended by SIGINT, as shells report it.
pub const EXIT_CODE: i32 = 130;

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static STOPPING: AtomicBool = AtomicBool::new(false);

struct State {
    groups: BTreeSet<u32>,
    stand: Option<String>,
    /// How many `holding` sections are running, and whether an interrupt came during one.
    held: usize,
    asked: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    groups: BTreeSet::new(),
    stand: None,
    held: 0,
    asked: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

extern "C" fn on_signal(signal: libc::c_int) {
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; the fd stays open for the process's life.
    unsafe {
        libc::write(
            WRITE_FD.load(Ordering::Relaxed),
            std::ptr::addr_of!(byte).cast(),
            1,
        );
    }
}

/// Installs the handlers for SIGINT and SIGTERM (once; later calls do nothing).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2(2) fills the two descriptors; sigaction(2) installs a handler that
        // only calls write(2).
        unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return;
            }
            WRITE_FD.store(fds[1], Ordering::Relaxed);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
            libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        }
        let read_fd = fds[0];
        std::thread::spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: a blocking read of one byte into a local.
            let n = unsafe { libc::read(read_fd, std::ptr::addr_of_mut!(byte).cast(), 1) };
            if n != 1 {
                return;
            }
            let mut state = state();
            if state.held > 0 && !state.asked {
                // `holding` ends the process once its section has put things back; a second
                // interrupt ends it at once.
                state.asked = true;
                STOPPING.store(true, Ordering::SeqCst);
            } else {
                stop(state);
            }
        });
    });
}

/// Says what the command is doing, what is done, and how to resume, for the message an
/// interrupt prints: `stand("verifying v0.1.5", "nothing was promoted", "cargo xtask stage v0.1.5")`.
pub fn stand(doing: &str, state_of_release: &str, resume: &str) {
    state().stand = Some(format!(
        "interrupted while {doing}: {state_of_release}; run `{resume}` to resume"
    ));
}

/// Runs `f` with an interrupt held back: one that comes meanwhile makes `stopping()` true at
/// once (so that `f` can see it and put back what it began) and ends the process, with the
/// `stand` message, only once `f` has returned. For short steps that must not be left half
/// done, such as writing a release's files, commit and tags; a terminal's Ctrl-C still
/// reaches the children of the process group (git and its hooks) at once.
/// `f` must not wait in `checkpoint` (it returns at once while a section is held).
pub fn holding<T>(f: impl FnOnce() -> T) -> T {
    /// Ends the section however `f` ends, a panic included.
    struct Held;
    impl Drop for Held {
        fn drop(&mut self) {
            let mut state = state();
            state.held -= 1;
            if state.held == 0 && state.asked && !std::thread::panicking() {
                stop(state);
            }
        }
    }
    state().held += 1;
    let held = Held;
    let result = f();
    drop(held);
    result
}

/// Ends every group this process started, says where the release stands, and exits. The lock
/// is held until the exit: no group can be started in between.
fn stop(state: std::sync::MutexGuard<'static, State>) -> ! {
    STOPPING.store(true, Ordering::SeqCst);
    for &group in &state.groups {
        // SAFETY: kill(2) on a process group this process started.
        unsafe { libc::kill(-(group as libc::pid_t), libc::SIGTERM) };
    }
    if !state.groups.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
        for &group in &state.groups {
            // SAFETY: as above; whatever ignored SIGTERM ends now.
            unsafe { libc::kill(-(group as libc::pid_t), libc::SIGKILL) };
        }
    }
    let message = state.stand.clone().unwrap_or_else(|| {
        "interrupted: every step converges, so run the same command again to resume".into()
    });
    crate::output::error(message);
    std::process::exit(EXIT_CODE);
}

/// Whether an interrupt is being handled.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Waits for the exit when an interrupt is being handled, so that a child it killed is never
/// recorded as a failure of the release.
pub fn checkpoint() {
    // Within `holding`, the section ends the process itself once it has put things back.
    if stopping() && state().held == 0 {
        loop {
            std::thread::park();
        }
    }
}

/// Starts `command` in a process group of its own, which an interrupt ends.
pub fn spawn(command: &mut Command) -> std::io::Result<Child> {
    command.process_group(0);
    let mut state = state();
    let child = command.spawn()?;
    state.groups.insert(child.id());
    Ok(child)
}

/// Forgets a group whose leader has been waited for.
pub fn forget(child: &Child) {
    state().groups.remove(&child.id());
}
