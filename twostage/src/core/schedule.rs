//! Jobs that run several at once and wait for one another: the uploads of a release set
//! (`upload`). A job starts once what it needs of other jobs holds (`Needs`) and the bounds
//! leave room (`Bounds`); the earliest such job in the list starts first. A job whose needed
//! success fails is held and never runs; nothing new starts once an interrupt is being
//! handled.

use std::sync::{Condvar, Mutex, MutexGuard};

/// What a job needs of another one before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The other job has ended, whatever became of it.
    Ended(usize),
    /// The other job has succeeded; if it failed or was held, this one is held too.
    Succeeded(usize),
}

/// How many jobs run at once: up to `always` whatever their sizes, and up to `most` while
/// the sizes of the running jobs add up to at most `bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub always: usize,
    pub most: usize,
    pub bytes: u64,
}

/// One job to schedule: its size (what it sends) and what it needs first.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub size: u64,
    pub needs: Vec<Needs>,
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
    /// Holds every waiting job whose needed success can no longer come (transitively).
    fn hold(&mut self, jobs: &[Job]) {
        loop {
            let doomed: Vec<usize> = (0..jobs.len())
                .filter(|&i| !self.started[i] && self.outcomes[i].is_none())
                .filter(|&i| {
                    jobs[i].needs.iter().any(|need| match *need {
                        Needs::Succeeded(other) => self.outcomes[other]
                            .as_ref()
                            .is_some_and(|outcome| !outcome.succeeded()),
                        Needs::Ended(_) => false,
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

    /// The first waiting job whose needs hold and that the bounds leave room for.
    fn next(&self, jobs: &[Job], bounds: Bounds) -> Option<usize> {
        (0..jobs.len()).find(|&i| {
            let fits = self.running < bounds.always.max(1)
                || (self.running < bounds.most
                    && self.bytes.saturating_add(jobs[i].size) <= bounds.bytes);
            !self.started[i]
                && self.outcomes[i].is_none()
                && fits
                && jobs[i].needs.iter().all(|need| match *need {
                    Needs::Ended(other) => self.outcomes[other].is_some(),
                    Needs::Succeeded(other) => self.outcomes[other]
                        .as_ref()
                        .is_some_and(Outcome::succeeded),
                })
        })
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `run` for every job index as `jobs` and `bounds` allow, on threads of their own (each
/// upload waits mostly on the network); the outcomes in the jobs' order.
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
        let result = run(i);
        let mut state = locked(&state);
        state.running -= 1;
        state.bytes -= jobs[i].size;
        state.outcomes[i] = Some(Outcome::Ran(result));
        changed.notify_all();
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
            std::thread::sleep(Duration::from_millis(20));
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
    fn jobs_that_wait_for_a_first_one_start_when_it_ends_whatever_became_of_it() {
        use Needs::Ended;
        let jobs = [job(1, &[]), job(1, &[Ended(0)]), job(1, &[Ended(0)])];
        for failing in [&[][..], &[0]] {
            let (outcomes, trace, most) = traced(&jobs, WIDE, failing);
            assert_eq!(&trace[..2], ["+0", "-0"], "{trace:?}");
            assert_eq!(most, 2, "{trace:?}");
            assert!(outcomes[1].succeeded() && outcomes[2].succeeded());
        }
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
