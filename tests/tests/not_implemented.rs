//! Every part that is not built yet must say so, with its issue, and exit with status 2.

type Run = fn(Vec<String>) -> anyhow::Result<()>;
type ExitCode = fn(&anyhow::Error) -> i32;

/// (program, a subcommand, its issue, run, exit_code)
fn parts() -> Vec<(&'static str, &'static str, u32, Run, ExitCode)> {
    vec![
        (
            "initramfs",
            "build",
            8,
            |a| initramfs::run(a),
            initramfs::exit_code,
        ),
        ("images", "disk", 8, |a| images::run(a), images::exit_code),
        (
            "vm-tests",
            "run",
            9,
            |a| vm_tests::run(a),
            vm_tests::exit_code,
        ),
    ]
}

#[test]
fn unbuilt_parts_name_their_issue() {
    for (prog, sub, issue, run, exit_code) in parts() {
        let err = run(vec![sub.to_string()]).expect_err("must not pretend to work");
        assert_eq!(
            err.to_string(),
            format!("{prog} {sub}: not implemented yet (tracked in issue #{issue})")
        );
        assert_eq!(exit_code(&err), 2, "{prog} {sub}");
    }
}
