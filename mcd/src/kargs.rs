//! Kernel arguments: split as the kernel splits a command line (whitespace separates, double quotes
//! protect it and stay in the argument; no escapes), and the `rpm-ostree` arguments that move from
//! one list to another. Pure.

/// Splits one command line into arguments (the executor's kernel-style splitter).
pub use ignition::exec::kargs::split_args as split;

/// A MachineConfig's `kernelArguments`: each entry may hold several arguments.
pub fn parse_list(entries: &[String]) -> Vec<String> {
    entries.iter().flat_map(|e| split(e)).collect()
}

/// The `rpm-ostree kargs` arguments from `old` to `new` (both already split), or nothing when
/// the lists are equal. As OpenShift does, every old argument is deleted and every new one
/// appended, so the order of the new list is kept; `--delete-if-present` (not `--delete`) so
/// that an argument someone removed by hand does not fail the update.
pub fn rpm_ostree_args(old: &[String], new: &[String]) -> Vec<String> {
    if old == new {
        return Vec::new();
    }
    let mut args = vec!["kargs".to_string()];
    args.extend(old.iter().map(|a| format!("--delete-if-present={a}")));
    args.extend(new.iter().map(|a| format!("--append={a}")));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_like_the_kernel() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  a  b=1\tc ", &["a", "b=1", "c"]),
            (r#"foo="a b" bar"#, &[r#"foo="a b""#, "bar"]),
            (r#""quoted whole" x"#, &[r#""quoted whole""#, "x"]),
            (
                "nosmt=force systemd.unified_cgroup_hierarchy=1",
                &["nosmt=force", "systemd.unified_cgroup_hierarchy=1"],
            ),
        ];
        for (line, want) in cases {
            assert_eq!(split(line), s(want), "{line:?}");
        }
        assert_eq!(
            parse_list(&s(&["a b", "c=\"1 2\""])),
            s(&["a", "b", "c=\"1 2\""])
        );
    }

    #[test]
    fn command_lines_keep_order_and_quoting() {
        // (old, new, expected rpm-ostree arguments)
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&[], &[], &[]),
            (&["a"], &["a"], &[]),
            (
                &[],
                &["nosmt", "foo=\"a b\""],
                &["kargs", "--append=nosmt", "--append=foo=\"a b\""],
            ),
            (
                &["a", "b"],
                &["b", "a"],
                &[
                    "kargs",
                    "--delete-if-present=a",
                    "--delete-if-present=b",
                    "--append=b",
                    "--append=a",
                ],
            ),
            (&["x=1"], &[], &["kargs", "--delete-if-present=x=1"]),
            (
                &["x=1"],
                &["x=2"],
                &["kargs", "--delete-if-present=x=1", "--append=x=2"],
            ),
        ];
        for (old, new, want) in cases {
            assert_eq!(
                rpm_ostree_args(&s(old), &s(new)),
                s(want),
                "{old:?} -> {new:?}"
            );
        }
    }
}
