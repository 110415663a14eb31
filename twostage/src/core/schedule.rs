//! Jobs that run several at once and wait for one another: the uploads of a release set
//! (`upload`). A job starts once what it needs of other jobs holds (`Needs`), its group lets
//! it (`Job::group`: one at a time until one of the group has succeeded) and the bounds leave
//! room (`Bounds`); the earliest such job in the list starts first. A job whose needed success
//! fails is held and never runs; nothing new starts once an interrupt is being handled.

use std::sync::{Condvar, Mutex, MutexGuard};

/// What a job needs of another one before it starts: that it has succeeded; if it failed or
/// was held, this one is held too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Succeeded(usize),
}

/// How many jobs run at once: up to `always` whatever their sizes (and `most` at the very
/// most), and up to `most` while the sizes of the running jobs add up to at most `bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub always: usize,
    pub most: usize,
    pub bytes: u64,
}

/// One job to schedule: its size (what it sends), what it needs first, and its group, if
/// any: the jobs of a group run one at a time until one of them has succeeded, then side by
/// side (the first upload of a release creates it).
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub size: u64,
    pub needs: Vec<Needs>,
    pub group: Option<usize>,
}

/// What became of a job.
#[derive(Debug)]
pub enum Outcome<R> {
    /// It ran: its result.
    Ran(anyhow::Result<R>),
    /// It never ran: a job whose success it needs failed or was held.
    Held,
    /// It never ran: an interrupt stopped new starts (or its needs wait on one another).
    Stopped,
}

impl<R> Outcome<R> {
    fn succeeded(&self) -> bool {
        matches!(self, Outcome::Ran(Ok(_)))
    }
}

struct State<R> {
    /// Each job's outcome once it has one (`Ran` or `Held`); `None` while waiting or running.
    outcomes: Vec<Option<Outcome<R>>>,
    started: Vec<bool>,
    running: usize,
    bytes: u64,
}

impl<R> State<R> {
    fn succeeded(&self, job: usize) -> bool {
        self.outcomes[job].as_ref().is_some_and(Outcome::succeeded)
    }

    fn running(&self, job: usize) -> bool {
        self.started[job] && self.outcomes[job].is_none()
    }

    /// Holds every waiting job whose needed success can no longer come (transitively).
    fn hold(&mut self, jobs: &[Job]) {
        loop {
            let doomed: Vec<usize> = (0..jobs.len())
                .filter(|&i| !self.started[i] && self.outcomes[i].is_none())
                .filter(|&i| {
                    jobs[i].needs.iter().any(|&Needs::Succeeded(other)| {
                        self.outcomes[other].is_some() && !self.succeeded(other)
                    })
                })
                .collect();
            if doomed.is_empty() {
                return;
            }
            for i in doomed {
                self.outcomes[i] = Some(Outcome::Held);
            }
        }
    }

    /// Whether a job of `group` may start now: one of its group has succeeded, or none of it
    /// is running.
    fn group_lets(&self, jobs: &[Job], group: Option<usize>) -> bool {
        let Some(group) = group else { return true };
        let members: Vec<usize> = (0..jobs.len())
            .filter(|&j| jobs[j].group == Some(group))
            .collect();
        members.iter().any(|&j| self.succeeded(j)) || !members.iter().any(|&j| self.running(j))
    }

    /// The first waiting job whose needs hold, whose group lets it, and that the bounds leave
    /// room for.
    fn next(&self, jobs: &[Job], bounds: Bounds) -> Option<usize> {
        (0..jobs.len()).find(|&i| {
            let fits = self.running < bounds.always.max(1)
                || (self.running < bounds.most
                    && self.bytes.saturating_add(jobs[i].size) <= bounds.bytes);
            !self.started[i]
                && self.outcomes[i].is_none()
                && fits
                && jobs[i]
                    .needs
                    .iter()
                    .all(|&Needs::Succeeded(other)| self.succeeded(other))
                && self.group_lets(jobs, jobs[i].group)
        })
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The end of a running job: its share of the bounds given back, an outcome if it has none
/// (it panicked), and every waiting worker woken, so that none waits for it forever.
struct Ending<'s, R> {
    state: &'s Mutex<State<R>>,
    changed: &'s Condvar,
    job: usize,
    size: u64,
}

impl<R> Drop for Ending<'_, R> {
    fn drop(&mut self) {
        let mut state = locked(self.state);
        state.running -= 1;
        state.bytes -= self.size;
        if state.outcomes[self.job].is_none() {
            let panicked = anyhow::anyhow!("the job panicked");
            state.outcomes[self.job] = Some(Outcome::Ran(Err(panicked)));
        }
        self.changed.notify_all();
    }
}

/// Runs `run` for every job index as `jobs` and `bounds` allow, on threads of their own (each
/// upload waits mostly on the network); the outcomes in the jobs' order. A job that panics
/// lets the others end, then the panic goes on.
pub fn run<R: Send>(
    jobs: &[Job],
    bounds: Bounds,
    run: impl Fn(usize) -> anyhow::Result<R> + Sync,
) -> Vec<Outcome<R>> {
    let state = Mutex::new(State {
        outcomes: jobs.iter().map(|_| None).collect(),
        started: vec![false; jobs.len()],
        running: 0,
        bytes: 0,
    });
    let changed = Condvar::new();
    let worker = || loop {
        let i = {
            let mut state = locked(&state);
            let i = loop {
                if crate::interrupt::stopping() {
                    return;
                }
                state.hold(jobs);
                match state.next(jobs, bounds) {
                    Some(i) => break i,
                    // Nothing runs and nothing can start: every job has its outcome.
                    None if state.running == 0 => return,
                    None => {
                        state = changed
                            .wait(state)
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                    }
                }
            };
            state.started[i] = true;
            state.running += 1;
            state.bytes += jobs[i].size;
            i
        };
        let ending = Ending {
            state: &state,
            changed: &changed,
            job: i,
            size: jobs[i].size,
        };
        let result = run(i);
        locked(&state).outcomes[i] = Some(Outcome::Ran(result));
        drop(ending);
    };
    std::thread::scope(|scope| {
        for _ in 1..bounds.most.min(jobs.len()).max(1) {
            scope.spawn(worker);
        }
        // The calling thread is one of the workers.
        worker();
    });
    state
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::Stopped))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const WIDE: Bounds = Bounds {
        always: 2,
        most: 6,
        bytes: 100,
    };

    fn job(size: u64, needs: &[Needs]) -> Job {
        Job {
            size,
            needs: needs.to_vec(),
            group: None,
        }
    }

    /// Runs `jobs`, each sleeping a little, failing those in `failing`; the outcomes, the
    /// order in which jobs started and ended (`+i` / `-i`), and the most running at once.
    fn traced(
        jobs: &[Job],
        bounds: Bounds,
        failing: &[usize],
    ) -> (Vec<Outcome<usize>>, Vec<String>, usize) {
        let trace = Mutex::new(Vec::new());
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let outcomes = run(jobs, bounds, |i| {
            locked(&trace).push(format!("+{i}"));
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            running.fetch_sub(1, Ordering::SeqCst);
            locked(&trace).push(format!("-{i}"));
            match failing.contains(&i) {
                true => anyhow::bail!("job {i} failed"),
                false => Ok(i),
            }
        });
        (outcomes, trace.into_inner().unwrap(), most.into_inner())
    }

    fn at(trace: &[String], event: &str) -> usize {
        trace.iter().position(|e| e == event).unwrap()
    }

    #[test]
    fn a_job_that_needs_others_to_succeed_starts_after_them_and_is_held_when_one_fails() {
        use Needs::Succeeded;
        // Jobs 0-2 wheels, 3 the sdist after them, 4 a job of its own.
        let jobs = [
            job(1, &[]),
            job(1, &[]),
            job(1, &[]),
            job(1, &[Succeeded(0), Succeeded(1), Succeeded(2)]),
            job(1, &[]),
        ];
        let (outcomes, trace, _) = traced(&jobs, WIDE, &[]);
        for wheel in ["-0", "-1", "-2"] {
            assert!(at(&trace, wheel) < at(&trace, "+3"), "{trace:?}");
        }
        assert!(outcomes.iter().all(Outcome::succeeded));
        // One wheel fails: the sdist is held, and so is what needs the sdist; the rest run.
        let mut jobs = jobs.to_vec();
        jobs.push(job(1, &[Succeeded(3)]));
        let (outcomes, trace, _) = traced(&jobs, WIDE, &[1]);
        assert!(matches!(outcomes[1], Outcome::Ran(Err(_))));
        assert!(matches!(outcomes[3], Outcome::Held));
        assert!(matches!(outcomes[5], Outcome::Held));
        for ran in [0, 2, 4] {
            assert!(outcomes[ran].succeeded(), "{trace:?}");
        }
        assert!(!trace.contains(&"+3".to_string()), "{trace:?}");
    }

    #[test]
    fn a_group_runs_one_at_a_time_until_one_of_it_succeeds_then_side_by_side() {
        let grouped = |group| Job {
            size: 1,
            needs: Vec::new(),
            group: Some(group),
        };
        // Group 0 of three jobs, and a job of group 1 that runs beside group 0's first.
        let jobs = [grouped(0), grouped(0), grouped(0), grouped(1)];
        let (outcomes, trace, _) = traced(&jobs, WIDE, &[]);
        assert!(at(&trace, "-0") < at(&trace, "+1"), "{trace:?}");
        assert!(at(&trace, "-0") < at(&trace, "+2"), "{trace:?}");
        assert!(at(&trace, "+3") < at(&trace, "-0"), "{trace:?}");
        assert!(outcomes.iter().all(Outcome::succeeded));
        // The first fails: the next runs alone, and once it has succeeded, the last.
        let (outcomes, trace, _) = traced(&jobs[..3], WIDE, &[0]);
        assert_eq!(&trace[..4], ["+0", "-0", "+1", "-1"], "{trace:?}");
        assert!(matches!(outcomes[0], Outcome::Ran(Err(_))));
        assert!(outcomes[1].succeeded() && outcomes[2].succeeded());
        // None succeeds: each is tried, one at a time.
        let (outcomes, trace, _) = traced(&jobs[..3], WIDE, &[0, 1, 2]);
        assert_eq!(trace, ["+0", "-0", "+1", "-1", "+2", "-2"]);
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Ran(Err(_)))));
    }

    #[test]
    fn a_job_that_panics_lets_the_others_end_and_its_panic_goes_on() {
        let jobs = vec![job(1, &[]); 4];
        let ended = std::sync::atomic::AtomicUsize::new(0);
        let result = std::panic::catch_unwind(|| {
            run(&jobs, WIDE, |i| {
                if i == 0 {
                    panic!("job 0 panics");
                }
                std::thread::sleep(Duration::from_millis(20));
                ended.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            })
        });
        assert!(result.is_err());
        assert_eq!(ended.into_inner(), 3);
    }

    #[test]
    fn small_jobs_run_wide_and_big_ones_only_as_many_as_always() {
        // Twelve jobs of 10 bytes: six at once (the most), 60 bytes within the 100.
        let small = vec![job(10, &[]); 12];
        let (_, trace, most) = traced(&small, WIDE, &[]);
        assert!((3..=6).contains(&most), "{most} at once: {trace:?}");
        // Jobs of 60 bytes: two at once (always), a third would pass the 100 bytes.
        let big = vec![job(60, &[]); 6];
        let (_, trace, most) = traced(&big, WIDE, &[]);
        assert!(most <= 2, "{most} at once: {trace:?}");
        // One at a time: the jobs in their order.
        let one = Bounds {
            always: 1,
            most: 1,
            bytes: 0,
        };
        let (_, trace, _) = traced(&small[..3], one, &[]);
        assert_eq!(trace, ["+0", "-0", "+1", "-1", "+2", "-2"]);
    }
}
