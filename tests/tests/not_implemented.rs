//! Every part is built now: no subcommand may still answer "not implemented yet". A subcommand
//! without its required arguments is a usage error (exit status 2) that names what is missing.

type Run = fn(Vec<String>) -> anyhow::Result<()>;
type ExitCode = fn(&anyhow::Error) -> i32;

/// (program, a subcommand, a required option, run, exit_code)
fn parts() -> Vec<(&'static str, &'static str, &'static str, Run, ExitCode)> {
    vec![
        (
            "initramfs",
            "build",
            "--root",
            |a| initramfs::run(a),
            initramfs::exit_code,
        ),
        (
            "images",
            "build",
            "--output",
            |a| images::run(a),
            images::exit_code,
        ),
    ]
}

#[test]
fn built_parts_do_not_claim_to_be_unbuilt() {
    for (prog, sub, required, run, exit_code) in parts() {
        let err = run(vec![sub.to_string()]).expect_err("missing arguments must fail");
        let msg = err.to_string();
        assert!(!msg.contains("not implemented"), "{prog} {sub}: {msg}");
        assert!(
            msg.contains(required),
            "{prog} {sub} must name {required}: {msg}"
        );
        assert_eq!(exit_code(&err), 2, "{prog} {sub}");
        run(vec![sub.to_string(), "--help".to_string()]).expect("--help works");
    }
}
