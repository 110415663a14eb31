//! `cargo xtask bench --quick` completes and prints every row (figures are not asserted:
//! absolute times on a shared machine are noise; the benchmark exists to be read).

mod common;

use common::*;

#[test]
fn bench_quick_prints_every_row() {
    let s = Scratch::new("bench");
    let run = s
        .twostage(&["bench", "--quick", "--upload-mb", "5"])
        .success();
    let rows: Vec<&str> = run.stdout.lines().collect();
    for (benchmark, tool) in [
        ("upload 5 MB", "twostage stage"),
        ("upload 5 MB", "twine upload"),
        ("upload 5 MB", "uv publish"),
        ("index wait", "after upload"),
        ("verify 1 wheel", "twostage (uv)"),
        ("verify 1 wheel", "twostage (pip)"),
        ("branch push", "git push"),
        ("branch push", "git push + hooks"),
        ("lifecycle", "twostage"),
        ("lifecycle", "by hand"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(benchmark) && r[16..].trim_start().starts_with(tool)),
            "no row for {benchmark} / {tool}:\n{}",
            run.stdout
        );
    }
    run.stderr_has("Hooks add");
}
