//! Table-driven tests of the validation rules, one table per rule family.
//!
//! Each row is (spec version, a small config snippet, expected findings). The snippet is wrapped
//! into a full config of that version (see [`Snip`]). A row passes when the findings contain
//! exactly the expected errors (each matched by JSON path and a message substring, no extra
//! errors) and at least the expected warnings.
//!
//! Rows for specs 3.0.0-3.3.0 were checked by hand against Go Ignition 2.14's
//! `ignition-validate`. To recheck them, run
//!
//! ```text
//! RULES_DUMP=/tmp/rules cargo test -p ignition --test rules -- --include-ignored
//! ```
//!
//! which writes every 3.0-3.3 row as `<table>-<n>.ign` with its expected error paths in
//! `<table>-<n>.paths` (one per line), ready to compare with Go's `error at $...` lines. The
//! tests themselves never run Go.
//!
//! Where the engine differs from Go 2.14 on purpose, `deliberate_differences` pins our behaviour.

use ignition::config::ParseError;
use ignition::version::VersionError;
use ignition::{Finding, Report, Severity};

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

const V30: &str = "3.0.0";
const V31: &str = "3.1.0";
const V32: &str = "3.2.0";
const V33: &str = "3.3.0";
const V34: &str = "3.4.0";
const V35: &str = "3.5.0";
const V36: &str = "3.6.0";

/// (severity, JSON path, message substring)
type Exp = (Severity, &'static str, &'static str);

/// A config snippet, wrapped into a full config by [`wrap`].
enum Snip {
    /// The value of `storage`.
    S(String),
    /// The value of `systemd`.
    D(String),
    /// The value of `passwd`.
    P(String),
    /// Members of the `ignition` object besides `version`.
    I(String),
    /// Top-level members besides `ignition`.
    T(String),
}

fn st(s: impl Into<String>) -> Snip {
    Snip::S(s.into())
}
fn sd(s: impl Into<String>) -> Snip {
    Snip::D(s.into())
}
fn pw(s: impl Into<String>) -> Snip {
    Snip::P(s.into())
}
fn ig(s: impl Into<String>) -> Snip {
    Snip::I(s.into())
}
fn top(s: impl Into<String>) -> Snip {
    Snip::T(s.into())
}

fn wrap(v: &str, snip: &Snip) -> String {
    let ign = |extra: &str| {
        if extra.is_empty() {
            format!(r#""ignition":{{"version":"{v}"}}"#)
        } else {
            format!(r#""ignition":{{"version":"{v}",{extra}}}"#)
        }
    };
    match snip {
        Snip::S(s) => format!(r#"{{{},"storage":{s}}}"#, ign("")),
        Snip::D(s) => format!(r#"{{{},"systemd":{s}}}"#, ign("")),
        Snip::P(s) => format!(r#"{{{},"passwd":{s}}}"#, ign("")),
        Snip::I(s) => format!("{{{}}}", ign(s)),
        Snip::T(s) if s.is_empty() => format!("{{{}}}", ign("")),
        Snip::T(s) => format!("{{{},{s}}}", ign("")),
    }
}

type Row = (&'static str, Snip, Vec<Exp>);

fn sha512(hex_len: usize) -> String {
    format!("sha512-{}", "a".repeat(hex_len))
}
fn sha256(hex_len: usize) -> String {
    format!("sha256-{}", "b".repeat(hex_len))
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("    {}: {} {}", f.severity, f.path, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one row; `Err` describes the mismatch.
fn check_row(cfg: &str, exp: &[Exp], strict_warnings: bool) -> Result<(), String> {
    let (report, ok) = match ignition::parse(cfg.as_bytes()) {
        Ok(p) => (p.report, true),
        Err(ParseError::Invalid(r)) => (r, false),
        Err(e) => return Err(format!("parse failed before validation: {e:?}")),
    };
    let findings = &report.findings;
    let mut problems = Vec::new();
    let want_errors = exp.iter().any(|(s, _, _)| *s == E);
    if ok == want_errors {
        problems.push(format!(
            "parse returned {} but {} expected",
            if ok { "Ok" } else { "Err(Invalid)" },
            if want_errors {
                "errors were"
            } else {
                "no errors were"
            }
        ));
    }
    // Match every expected finding to a distinct actual one.
    let mut used = vec![false; findings.len()];
    for (sev, path, msg) in exp {
        let hit = findings.iter().enumerate().position(|(i, f)| {
            !used[i] && f.severity == *sev && f.path.to_string() == *path && f.message.contains(msg)
        });
        match hit {
            Some(i) => used[i] = true,
            None => problems.push(format!("missing {sev} at {path} containing {msg:?}")),
        }
    }
    for (i, f) in findings.iter().enumerate() {
        if (f.severity == E || strict_warnings) && !used[i] {
            problems.push(format!(
                "unexpected {} at {}: {}",
                f.severity, f.path, f.message
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  actual findings:\n{}",
            problems.join("\n  "),
            show(findings)
        ))
    }
}

/// With `RULES_DUMP` set, writes the 3.0-3.3 rows of a table for comparison with Go.
fn dump(table: &str, rows: &[Row]) {
    let Some(dir) = std::env::var_os("RULES_DUMP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (n, (v, snip, exp)) in rows.iter().enumerate() {
        if ![V30, V31, V32, V33].contains(v) {
            continue;
        }
        let mut paths: Vec<&str> = exp
            .iter()
            .filter(|(s, _, _)| *s == E)
            .map(|(_, p, _)| *p)
            .collect();
        paths.sort();
        paths.dedup();
        let base = dir.join(format!("{table}-{n:03}"));
        std::fs::write(base.with_extension("ign"), wrap(v, snip)).unwrap();
        let mut text = paths.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(base.with_extension("paths"), text).unwrap();
    }
}

fn run_table(table: &str, rows: Vec<Row>) {
    run_table_with(table, rows, false)
}

/// With `strict_warnings`, warnings must match exactly too (no extra ones).
fn run_table_with(table: &str, rows: Vec<Row>, strict_warnings: bool) {
    dump(table, &rows);
    let mut failures = Vec::new();
    for (n, (v, snip, exp)) in rows.iter().enumerate() {
        let cfg = wrap(v, snip);
        if let Err(why) = check_row(&cfg, exp, strict_warnings) {
            failures.push(format!("[{table} row {n}] {v} {cfg}\n  {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Paths

#[test]
fn clean_absolute_paths() {
    run_table(
        "paths",
        vec![
            (V30, st(r#"{"files":[{"path":"/etc/hosts"}]}"#), vec![]),
            (
                V30,
                st(r#"{"files":[{"path":"etc/hosts"}]}"#),
                vec![(E, "$.storage.files.0.path", "path not absolute")],
            ),
            (
                V33,
                st(r#"{"files":[{"path":"/a/../b"}]}"#),
                vec![(E, "$.storage.files.0.path", "path is not fully simplified")],
            ),
            (
                V31,
                st(r#"{"files":[{"path":"/etc/"}]}"#),
                vec![(E, "$.storage.files.0.path", "path is not fully simplified")],
            ),
            (
                V36,
                st(r#"{"files":[{"path":"/a//b"}]}"#),
                vec![(E, "$.storage.files.0.path", "path is not fully simplified")],
            ),
            (
                V32,
                st(r#"{"files":[{"path":""}]}"#),
                vec![(E, "$.storage.files.0.path", "path not specified")],
            ),
            (
                V31,
                st(r#"{"directories":[{"path":"/d/./x"}]}"#),
                vec![(
                    E,
                    "$.storage.directories.0.path",
                    "path is not fully simplified",
                )],
            ),
            (
                V32,
                st(r#"{"links":[{"path":"//l","target":"/x"}]}"#),
                vec![(E, "$.storage.links.0.path", "path is not fully simplified")],
            ),
            (
                V34,
                st(r#"{"links":[{"path":"l","target":"/x"}]}"#),
                vec![(E, "$.storage.links.0.path", "path not absolute")],
            ),
            (
                V30,
                st(r#"{"disks":[{"device":"dev/sda"}]}"#),
                vec![(E, "$.storage.disks.0.device", "path not absolute")],
            ),
            (
                V33,
                st(r#"{"disks":[{"device":"/dev/../sda"}]}"#),
                vec![(
                    E,
                    "$.storage.disks.0.device",
                    "path is not fully simplified",
                )],
            ),
            (
                V30,
                st(r#"{"filesystems":[{"device":"/dev/sda/","format":"ext4"}]}"#),
                vec![(
                    E,
                    "$.storage.filesystems.0.device",
                    "path is not fully simplified",
                )],
            ),
            (
                V30,
                st(r#"{"filesystems":[{"device":"sda","format":"ext4"}]}"#),
                vec![(E, "$.storage.filesystems.0.device", "path not absolute")],
            ),
            (
                V32,
                st(r#"{"filesystems":[{"device":"/dev/sda","format":"ext4","path":"/var/"}]}"#),
                vec![(
                    E,
                    "$.storage.filesystems.0.path",
                    "path is not fully simplified",
                )],
            ),
            (
                V33,
                st(r#"{"filesystems":[{"device":"/dev/sda","format":"ext4","path":"var"}]}"#),
                vec![(E, "$.storage.filesystems.0.path", "path not absolute")],
            ),
            (
                V30,
                st(r#"{"raid":[{"name":"md0","level":"raid1","devices":["/dev/sda","dev/sdb"]}]}"#),
                vec![(E, "$.storage.raid.0.devices.1", "path not absolute")],
            ),
            (
                V33,
                st(
                    r#"{"raid":[{"name":"md0","level":"raid1","devices":["/dev/sda/.","/dev/sdb"]}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.raid.0.devices.0",
                    "path is not fully simplified",
                )],
            ),
            (
                V32,
                st(r#"{"luks":[{"name":"root","device":"dev/sda"}]}"#),
                vec![(E, "$.storage.luks.0.device", "path not absolute")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates

#[test]
fn duplicates() {
    run_table(
        "dups",
        vec![
            (
                V30,
                st(r#"{"files":[{"path":"/a"},{"path":"/a"}]}"#),
                vec![(E, "$.storage.files.1", "duplicate entry defined")],
            ),
            (
                V33,
                st(r#"{"directories":[{"path":"/a"}],"files":[{"path":"/a"}]}"#),
                vec![(E, "$.storage.files.0", "duplicate entry defined")],
            ),
            (
                V32,
                st(r#"{"files":[{"path":"/a"}],"links":[{"path":"/a","target":"/b"}]}"#),
                vec![(E, "$.storage.links.0", "duplicate entry defined")],
            ),
            (
                V30,
                st(r#"{"directories":[{"path":"/a"},{"path":"/a"}]}"#),
                vec![(E, "$.storage.directories.1", "duplicate entry defined")],
            ),
            (
                V30,
                st(r#"{"directories":[{"path":"/a"}],"links":[{"path":"/a","target":"/b"}]}"#),
                vec![(E, "$.storage.links.0", "duplicate entry defined")],
            ),
            (
                V36,
                st(
                    r#"{"files":[{"path":"/a"}],"directories":[{"path":"/b"}],"links":[{"path":"/c","target":"/b"}]}"#,
                ),
                vec![],
            ),
            (
                V30,
                sd(r#"{"units":[{"name":"a.service"},{"name":"a.service"}]}"#),
                vec![(E, "$.systemd.units.1", "duplicate entry defined")],
            ),
            (
                V31,
                sd(
                    r#"{"units":[{"name":"a.service","dropins":[{"name":"x.conf"},{"name":"x.conf"}]}]}"#,
                ),
                vec![(E, "$.systemd.units.0.dropins.1", "duplicate entry defined")],
            ),
            (
                V32,
                pw(r#"{"users":[{"name":"core"},{"name":"core"}]}"#),
                vec![(E, "$.passwd.users.1", "duplicate entry defined")],
            ),
            (
                V33,
                pw(r#"{"groups":[{"name":"g"},{"name":"g"}]}"#),
                vec![(E, "$.passwd.groups.1", "duplicate entry defined")],
            ),
            (
                V30,
                pw(r#"{"users":[{"name":"core","sshAuthorizedKeys":["k1","k2","k1"]}]}"#),
                vec![(
                    E,
                    "$.passwd.users.0.sshAuthorizedKeys.2",
                    "duplicate entry defined",
                )],
            ),
            (
                V33,
                pw(r#"{"users":[{"name":"core","groups":["wheel","wheel"]}]}"#),
                vec![(E, "$.passwd.users.0.groups.1", "duplicate entry defined")],
            ),
            (
                V30,
                st(r#"{"disks":[{"device":"/dev/sda"},{"device":"/dev/sda"}]}"#),
                vec![(E, "$.storage.disks.1", "duplicate entry defined")],
            ),
            (
                V31,
                st(
                    r#"{"disks":[{"device":"/dev/sda","partitions":[{"label":"a"},{"label":"a"}]}]}"#,
                ),
                vec![
                    (
                        E,
                        "$.storage.disks.0.partitions.1",
                        "duplicate entry defined",
                    ),
                    (
                        E,
                        "$.storage.disks.0.partitions.1",
                        "cannot use the same partition label twice",
                    ),
                ],
            ),
            (
                V30,
                st(
                    r#"{"filesystems":[{"device":"/dev/sda","format":"ext4"},{"device":"/dev/sda","format":"xfs"}]}"#,
                ),
                vec![(E, "$.storage.filesystems.1", "duplicate entry defined")],
            ),
            (
                V33,
                st(
                    r#"{"raid":[{"name":"md","level":"raid1","devices":["/dev/sda"]},{"name":"md","level":"raid1","devices":["/dev/sdb"]}]}"#,
                ),
                vec![(E, "$.storage.raid.1", "duplicate entry defined")],
            ),
            (
                V30,
                st(r#"{"raid":[{"name":"md","level":"raid1","devices":["/dev/sda","/dev/sda"]}]}"#),
                vec![(E, "$.storage.raid.0.devices.1", "duplicate entry defined")],
            ),
            (
                V32,
                st(
                    r#"{"luks":[{"name":"r","device":"/dev/sda"},{"name":"r","device":"/dev/sdb"}]}"#,
                ),
                vec![(E, "$.storage.luks.1", "duplicate entry defined")],
            ),
            (
                V32,
                st(
                    r#"{"luks":[{"name":"r","device":"/dev/sda","clevis":{"tang":[{"url":"http://t","thumbprint":"x"},{"url":"http://t","thumbprint":"y"}]}}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.tang.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V34,
                st(r#"{"luks":[{"name":"r","device":"/dev/sda","openOptions":["--a","--a"]}]}"#),
                vec![(
                    E,
                    "$.storage.luks.0.openOptions.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V31,
                st(
                    r#"{"files":[{"path":"/a","contents":{"source":"http://x/y","httpHeaders":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V33,
                ig(
                    r#""config":{"merge":[{"source":"http://x/y","httpHeaders":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}]}"#,
                ),
                vec![(
                    E,
                    "$.ignition.config.merge.0.httpHeaders.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V31,
                ig(r#""config":{"merge":[{"source":"http://x/y"},{"source":"http://x/y"}]}"#),
                vec![(E, "$.ignition.config.merge.1", "duplicate entry defined")],
            ),
            (
                V32,
                ig(
                    r#""security":{"tls":{"certificateAuthorities":[{"source":"http://x/ca"},{"source":"http://x/ca"}]}}"#,
                ),
                vec![(
                    E,
                    "$.ignition.security.tls.certificateAuthorities.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V31,
                ig(r#""proxy":{"noProxy":["a","a"]}"#),
                vec![(E, "$.ignition.proxy.noProxy.1", "duplicate entry defined")],
            ),
            (
                V33,
                top(r#""kernelArguments":{"shouldExist":["quiet","quiet"]}"#),
                vec![(
                    E,
                    "$.kernelArguments.shouldExist.1",
                    "duplicate entry defined",
                )],
            ),
            (
                V33,
                top(r#""kernelArguments":{"shouldExist":["quiet"],"shouldNotExist":["quiet"]}"#),
                vec![(
                    E,
                    "$.kernelArguments.shouldNotExist.0",
                    "duplicate entry defined",
                )],
            ),
            (
                V36,
                top(r#""kernelArguments":{"shouldExist":["a"],"shouldNotExist":["b","b"]}"#),
                vec![(
                    E,
                    "$.kernelArguments.shouldNotExist.1",
                    "duplicate entry defined",
                )],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Links

#[test]
fn links() {
    run_table(
        "links",
        vec![
            (
                V30,
                st(r#"{"links":[{"path":"/l","target":"/x"}],"files":[{"path":"/l/f"}]}"#),
                vec![(E, "$.storage.files.0", "file path includes link in config")],
            ),
            (
                V33,
                st(r#"{"links":[{"path":"/l","target":"/x"}],"directories":[{"path":"/l/a/b"}]}"#),
                vec![(
                    E,
                    "$.storage.directories.0",
                    "directory path includes link in config",
                )],
            ),
            (
                V32,
                st(r#"{"links":[{"path":"/l","target":"/x"},{"path":"/l/m","target":"/y"}]}"#),
                vec![(E, "$.storage.links.1", "link path includes link in config")],
            ),
            (
                V31,
                st(r#"{"links":[{"path":"/l","target":"/x"}],"files":[{"path":"/lx/f"}]}"#),
                vec![],
            ),
            (
                V31,
                st(
                    r#"{"directories":[{"path":"/d"}],"links":[{"path":"/h","target":"/d","hard":true}]}"#,
                ),
                vec![(E, "$.storage.links.0", "hard link target is a directory")],
            ),
            (
                V33,
                st(
                    r#"{"directories":[{"path":"/d"}],"links":[{"path":"/h","target":"/d","hard":false}]}"#,
                ),
                vec![],
            ),
            (
                V33,
                st(
                    r#"{"files":[{"path":"/d"}],"links":[{"path":"/h","target":"/d","hard":true}]}"#,
                ),
                vec![],
            ),
            (
                V33,
                st(r#"{"links":[{"path":"/l"}]}"#),
                vec![(E, "$.storage.links.0.target", "link target is required")],
            ),
            // Before 3.3 a link's target was a plain string; Go 2.14 accepts it left out.
            (V32, st(r#"{"links":[{"path":"/l"}]}"#), vec![]),
            (V30, st(r#"{"links":[{"path":"/l","target":""}]}"#), vec![]),
            (
                V33,
                st(
                    r#"{"directories":[{"path":"/d"}],"links":[{"path":"/d/h","target":"..","hard":true}]}"#,
                ),
                vec![(E, "$.storage.links.0", "hard link target is a directory")],
            ),
            (
                V35,
                st(
                    r#"{"links":[{"path":"/l","target":"/x","hard":true,"user":{"id":1},"group":{"name":"g"}}]}"#,
                ),
                vec![
                    (
                        W,
                        "$.storage.links.0.user.id",
                        "user/group ignored for hard link",
                    ),
                    (
                        W,
                        "$.storage.links.0.group.name",
                        "user/group ignored for hard link",
                    ),
                ],
            ),
            (
                V36,
                st(r#"{"links":[{"path":"/l","target":""}]}"#),
                vec![(E, "$.storage.links.0.target", "link target is required")],
            ),
            (
                V30,
                st(r#"{"links":[{"path":"/l","target":"/x","user":{"id":1,"name":"a"}}]}"#),
                vec![(E, "$.storage.links.0.user", "cannot set both id and name")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Node owners and modes

#[test]
fn owners_and_modes() {
    const SPECIAL: &str = "setuid/setgid/sticky bits are not supported";
    run_table(
        "modes",
        vec![
            (
                V30,
                st(r#"{"files":[{"path":"/a","user":{"id":0,"name":"root"}}]}"#),
                vec![(E, "$.storage.files.0.user", "cannot set both id and name")],
            ),
            (
                V33,
                st(r#"{"files":[{"path":"/a","group":{"id":10,"name":"wheel"}}]}"#),
                vec![(E, "$.storage.files.0.group", "cannot set both id and name")],
            ),
            (
                V32,
                st(
                    r#"{"directories":[{"path":"/a","user":{"id":1,"name":"x"},"group":{"id":1,"name":"y"}}]}"#,
                ),
                vec![
                    (
                        E,
                        "$.storage.directories.0.user",
                        "cannot set both id and name",
                    ),
                    (
                        E,
                        "$.storage.directories.0.group",
                        "cannot set both id and name",
                    ),
                ],
            ),
            (
                V31,
                st(r#"{"files":[{"path":"/a","user":{"id":1},"group":{"name":"g"}}]}"#),
                vec![],
            ),
            (V30, st(r#"{"files":[{"path":"/a","mode":420}]}"#), vec![]),
            (V33, st(r#"{"files":[{"path":"/a","mode":511}]}"#), vec![]),
            (
                V30,
                st(r#"{"files":[{"path":"/a","mode":4096}]}"#),
                vec![(E, "$.storage.files.0.mode", "illegal file mode")],
            ),
            (
                V33,
                st(r#"{"directories":[{"path":"/a","mode":-1}]}"#),
                vec![
                    (E, "$.storage.directories.0.mode", "illegal file mode"),
                    (W, "$.storage.directories.0.mode", SPECIAL),
                ],
            ),
            (
                V36,
                st(r#"{"files":[{"path":"/a","mode":99999}]}"#),
                vec![(E, "$.storage.files.0.mode", "illegal file mode")],
            ),
            (
                V30,
                st(r#"{"files":[{"path":"/a","mode":2541}]}"#),
                vec![(W, "$.storage.files.0.mode", SPECIAL)],
            ),
            (
                V33,
                st(r#"{"directories":[{"path":"/tmp","mode":1023}]}"#),
                vec![(W, "$.storage.directories.0.mode", SPECIAL)],
            ),
            (
                V34,
                st(r#"{"files":[{"path":"/a","mode":3565}]}"#),
                vec![(W, "$.storage.files.0.mode", SPECIAL)],
            ),
            (
                V35,
                st(r#"{"files":[{"path":"/a","mode":4095}]}"#),
                vec![(W, "$.storage.files.0.mode", SPECIAL)],
            ),
            (V36, st(r#"{"files":[{"path":"/a","mode":2541}]}"#), vec![]),
            (
                V36,
                st(r#"{"directories":[{"path":"/t","mode":1023}]}"#),
                vec![],
            ),
        ],
    );
}

/// From 3.6 the special bits are supported: no warning at all.
#[test]
fn no_special_bits_warning_in_36() {
    let cfg = wrap(V36, &st(r#"{"files":[{"path":"/a","mode":2541}]}"#));
    let parsed = ignition::parse(cfg.as_bytes()).unwrap();
    assert!(parsed.report.is_empty(), "{}", parsed.report);
}

// ---------------------------------------------------------------------------------------------
// Resources: hashes, URL schemes, data URLs, compression, overwrite

fn file_contents(contents: &str) -> Snip {
    st(format!(
        r#"{{"files":[{{"path":"/f","contents":{contents}}}]}}"#
    ))
}

#[test]
fn hashes() {
    let with_hash = |h: String| {
        file_contents(&format!(
            r#"{{"source":"http://x/y","verification":{{"hash":"{h}"}}}}"#
        ))
    };
    const AT: &str = "$.storage.files.0.contents.verification.hash";
    run_table(
        "hashes",
        vec![
            (V30, with_hash(sha512(128)), vec![]),
            (V36, with_hash(sha512(128)), vec![]),
            (
                V30,
                with_hash(sha256(64)),
                vec![(E, AT, "unrecognized hash function")],
            ),
            (V31, with_hash(sha256(64)), vec![]),
            (V33, with_hash(sha256(64)), vec![]),
            (
                V33,
                with_hash(sha512(127)),
                vec![(E, AT, "incorrect size for hash sum")],
            ),
            (
                V30,
                with_hash(sha512(129)),
                vec![(E, AT, "incorrect size for hash sum")],
            ),
            (
                V32,
                with_hash(sha256(128)),
                vec![(E, AT, "incorrect size for hash sum")],
            ),
            (
                V31,
                with_hash("sha512".into()),
                vec![(E, AT, "malformed hash specifier")],
            ),
            (
                V32,
                with_hash("md5-d41d8cd98f00b204e9800998ecf8427e".into()),
                vec![(E, AT, "unrecognized hash function")],
            ),
            (
                V31,
                file_contents(r#"{"verification":{"hash":"sha512-aa"}}"#),
                vec![
                    (
                        E,
                        AT,
                        "source must be specified if verification is specified",
                    ),
                    (E, AT, "incorrect size for hash sum"),
                ],
            ),
            (
                V30,
                ig(format!(
                    r#""config":{{"merge":[{{"source":"http://x/y","verification":{{"hash":"{}"}}}}]}}"#,
                    sha256(64)
                )),
                vec![(
                    E,
                    "$.ignition.config.merge.0.verification.hash",
                    "unrecognized hash function",
                )],
            ),
            (
                V31,
                ig(format!(
                    r#""config":{{"replace":{{"source":"http://x/y","verification":{{"hash":"{}"}}}}}}"#,
                    sha512(10)
                )),
                vec![(
                    E,
                    "$.ignition.config.replace.verification.hash",
                    "incorrect size for hash sum",
                )],
            ),
        ],
    );
}

#[test]
fn url_schemes() {
    let src = |s: &str| file_contents(&format!(r#"{{"source":"{s}"}}"#));
    const AT: &str = "$.storage.files.0.contents.source";
    run_table(
        "urls",
        vec![
            (V30, src("http://example.com/a"), vec![]),
            (V30, src("https://example.com/a"), vec![]),
            (V30, src("tftp://example.com/a"), vec![]),
            (V30, src("s3://bucket/key"), vec![]),
            (
                V31,
                src("gs://bucket/key"),
                vec![(E, AT, "invalid url scheme")],
            ),
            (V32, src("gs://bucket/key"), vec![]),
            (V36, src("gs://bucket/key"), vec![]),
            (
                V30,
                src("ftp://example.com/a"),
                vec![(E, AT, "invalid url scheme")],
            ),
            (
                V30,
                src("/just/a/path"),
                vec![(E, AT, "invalid url scheme")],
            ),
            (
                V33,
                src("arn:aws:s3:::bucket/key"),
                vec![(E, AT, "invalid url scheme")],
            ),
            (V34, src("arn:aws:s3:::bucket/key"), vec![]),
            (
                V34,
                src("arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/key"),
                vec![],
            ),
            (
                V34,
                src("arn:aws:s3:::bucket"),
                vec![(E, AT, "invalid S3 ARN format")],
            ),
            (
                V35,
                src("arn:aws:sqs:::bucket/key"),
                vec![(E, AT, "invalid S3 ARN format")],
            ),
            (
                V36,
                src("arn:aws:s3:us-east-1:123456789012:accesspoint/ap"),
                vec![(E, AT, "invalid S3 ARN format")],
            ),
            (V31, src("s3://bucket/key?versionId=abc"), vec![]),
            (
                V31,
                src("s3://bucket/key?versionId="),
                vec![(E, AT, "invalid S3 object VersionId")],
            ),
            (
                V33,
                src("http://x/%zz"),
                vec![(E, AT, "unable to parse url")],
            ),
            (
                V30,
                src("http://host:port/"),
                vec![(E, AT, "unable to parse url")],
            ),
            // data URLs (RFC 2397)
            (V30, src("data:,hello%20world"), vec![]),
            (
                V31,
                src("data:text/plain;charset=utf-8;base64,aGk="),
                vec![],
            ),
            (V33, src("data:;base64,aGk="), vec![]),
            (V32, src("data:application/x-foo,"), vec![]),
            (
                V31,
                src("data:;base64,aGk"),
                vec![(E, AT, "illegal base64 data")],
            ),
            (V32, src("data:;base64,a!Gk"), vec![(E, AT, "")]),
            (
                V30,
                src("data:foo/bar,x"),
                vec![(E, AT, "invalid media type")],
            ),
            (V33, src("data:x"), vec![(E, AT, "")]),
            (V30, src("data:text/plain"), vec![(E, AT, "")]),
            (V31, src("data:,%zz"), vec![(E, AT, "")]),
            (V36, src("data:,a b"), vec![(E, AT, "")]),
        ],
    );
}

#[test]
fn overwrite_and_compression() {
    run_table(
        "contents",
        vec![
            (
                V30,
                st(r#"{"files":[{"path":"/a","overwrite":true}]}"#),
                vec![(
                    E,
                    "$.storage.files.0.overwrite",
                    "overwrite must be false if source is unspecified",
                )],
            ),
            (
                V33,
                st(r#"{"files":[{"path":"/a","overwrite":true,"contents":{"source":"data:,x"}}]}"#),
                vec![],
            ),
            (
                V32,
                st(r#"{"files":[{"path":"/a","overwrite":false}]}"#),
                vec![],
            ),
            (
                V30,
                file_contents(r#"{"source":"data:,x","compression":"xz"}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.compression",
                    "invalid compression method",
                )],
            ),
            (
                V33,
                file_contents(r#"{"source":"data:,x","compression":"bzip2"}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.compression",
                    "invalid compression method",
                )],
            ),
            (
                V30,
                file_contents(r#"{"source":"http://x/y.gz","compression":"gzip"}"#),
                vec![],
            ),
            (
                V31,
                file_contents(r#"{"source":"http://x/y","compression":""}"#),
                vec![],
            ),
            (
                V32,
                st(
                    r#"{"files":[{"path":"/a","append":[{"source":"data:,x","compression":"lz4"}]}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.files.0.append.0.compression",
                    "invalid compression method",
                )],
            ),
            (
                V31,
                ig(r#""config":{"merge":[{"source":"http://x/y","compression":"zstd"}]}"#),
                vec![(
                    E,
                    "$.ignition.config.merge.0.compression",
                    "invalid compression method",
                )],
            ),
            // 3.0 config references had no compression field.
            (
                V30,
                ig(r#""config":{"merge":[{"source":"http://x/y","compression":"gzip"}]}"#),
                vec![(
                    W,
                    "$.ignition.config.merge.0.compression",
                    "Unused key compression",
                )],
            ),
        ],
    );
}

#[test]
fn http_headers() {
    run_table(
        "headers",
        vec![
            (
                V31,
                file_contents(
                    r#"{"source":"https://x/y","httpHeaders":[{"name":"Authorization","value":"Bearer t"}]}"#,
                ),
                vec![],
            ),
            (
                V31,
                file_contents(r#"{"source":"data:,x","httpHeaders":[{"name":"A","value":"b"}]}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders",
                    "cannot use HTTP headers with this source scheme",
                )],
            ),
            (
                V33,
                file_contents(r#"{"source":"s3://b/k","httpHeaders":[{"name":"A","value":"b"}]}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders",
                    "cannot use HTTP headers with this source scheme",
                )],
            ),
            (
                V32,
                file_contents(r#"{"source":"http://x/y","httpHeaders":[{"name":"","value":"b"}]}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders.0.name",
                    "HTTP header name can't be empty",
                )],
            ),
            (
                V32,
                file_contents(
                    r#"{"source":"http://x","httpHeaders":[{"name":"A","value":""},{"name":"B"}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders.0.value",
                    "unable to parse HTTP header",
                )],
            ),
            (
                V32,
                file_contents(r#"{"httpHeaders":[{"name":"A","value":"b"}]}"#),
                vec![(
                    E,
                    "$.storage.files.0.contents.httpHeaders",
                    "unable to parse url",
                )],
            ),
            (
                V33,
                ig(
                    r#""config":{"replace":{"source":"http://x/y","httpHeaders":[{"name":"A","value":"1"}]}}"#,
                ),
                vec![],
            ),
            (
                V31,
                ig(
                    r#""security":{"tls":{"certificateAuthorities":[{"source":"data:,x","httpHeaders":[{"name":"A","value":"1"}]}]}}"#,
                ),
                vec![(
                    E,
                    "$.ignition.security.tls.certificateAuthorities.0.httpHeaders",
                    "cannot use HTTP headers with this source scheme",
                )],
            ),
            // httpHeaders came with 3.1.
            (
                V30,
                file_contents(
                    r#"{"source":"http://x/y","httpHeaders":[{"name":"A","value":"b"}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.files.0.contents.httpHeaders",
                    "Unused key httpHeaders",
                )],
            ),
        ],
    );
}

#[test]
fn ignition_section() {
    run_table(
        "ignition",
        vec![
            (
                V31,
                ig(r#""proxy":{"httpProxy":"http://p:3128","httpsProxy":"https://p:3128"}"#),
                vec![],
            ),
            (
                V31,
                ig(r#""proxy":{"httpsProxy":"http://p:3128"}"#),
                vec![(
                    W,
                    "$.ignition.proxy.httpsProxy",
                    "insecure plaintext HTTP proxy specified for HTTPS resources",
                )],
            ),
            (
                V32,
                ig(r#""proxy":{"httpProxy":"ftp://p"}"#),
                vec![(E, "$.ignition.proxy.httpProxy", "proxies must be http(s)")],
            ),
            (
                V33,
                ig(r#""proxy":{"httpsProxy":"socks5://p"}"#),
                vec![(E, "$.ignition.proxy.httpsProxy", "proxies must be http(s)")],
            ),
            (
                V31,
                ig(r#""proxy":{"httpProxy":"http://p/%zz"}"#),
                vec![(E, "$.ignition.proxy.httpProxy", "unable to parse url")],
            ),
            (
                V30,
                ig(r#""proxy":{"httpProxy":"http://p"}"#),
                vec![(W, "$.ignition.proxy", "Unused key proxy")],
            ),
            // merge and CA sources
            (
                V31,
                ig(r#""config":{"merge":[{}]}"#),
                vec![(E, "$.ignition.config.merge.0", "source is required")],
            ),
            (
                V33,
                ig(r#""config":{"merge":[{"source":""}]}"#),
                vec![(E, "$.ignition.config.merge.0", "source is required")],
            ),
            (
                V31,
                ig(r#""config":{"merge":[{"source":"ftp://x"}]}"#),
                vec![
                    (E, "$.ignition.config.merge.0", "invalid url scheme"),
                    (E, "$.ignition.config.merge.0.source", "invalid url scheme"),
                ],
            ),
            (V30, ig(r#""config":{"merge":[{}]}"#), vec![]),
            (
                V30,
                ig(r#""config":{"merge":[{"source":"ftp://x"}]}"#),
                vec![(E, "$.ignition.config.merge.0.source", "invalid url scheme")],
            ),
            (V32, ig(r#""config":{"replace":{}}"#), vec![]),
            (
                V30,
                ig(r#""security":{"tls":{"certificateAuthorities":[{}]}}"#),
                vec![(
                    E,
                    "$.ignition.security.tls.certificateAuthorities.0.source",
                    "",
                )],
            ),
            (
                V31,
                ig(r#""security":{"tls":{"certificateAuthorities":[{}]}}"#),
                vec![(
                    E,
                    "$.ignition.security.tls.certificateAuthorities.0",
                    "source is required",
                )],
            ),
            (
                V36,
                ig(r#""security":{"tls":{"certificateAuthorities":[{"source":""}]}}"#),
                vec![(
                    E,
                    "$.ignition.security.tls.certificateAuthorities.0",
                    "source is required",
                )],
            ),
            (
                V33,
                ig(r#""security":{"tls":{"certificateAuthorities":[{"source":"data:,pem"}]}}"#),
                vec![],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// systemd

#[test]
fn systemd_units() {
    run_table(
        "systemd",
        vec![
            (
                V30,
                sd(r#"{"units":[{"name":"a.service"},{"name":"b.timer"},{"name":"c.mount"}]}"#),
                vec![],
            ),
            (
                V30,
                sd(r#"{"units":[{"name":"foo"}]}"#),
                vec![(
                    E,
                    "$.systemd.units.0.name",
                    "invalid systemd unit extension",
                )],
            ),
            (
                V33,
                sd(r#"{"units":[{"name":"foo.bar"}]}"#),
                vec![(
                    E,
                    "$.systemd.units.0.name",
                    "invalid systemd unit extension",
                )],
            ),
            (
                V36,
                sd(r#"{"units":[{"name":"a.service","dropins":[{"name":"x.txt"}]}]}"#),
                vec![(
                    E,
                    "$.systemd.units.0.dropins.0.name",
                    "invalid systemd drop-in extension",
                )],
            ),
            (
                V31,
                sd(r#"{"units":[{"name":"a.service","dropins":[{"name":"conf"}]}]}"#),
                vec![(
                    E,
                    "$.systemd.units.0.dropins.0.name",
                    "invalid systemd drop-in extension",
                )],
            ),
            (
                V32,
                sd(r#"{"units":[{"name":"a.service","contents":"[Unit"}]}"#),
                vec![(E, "$.systemd.units.0.contents", "invalid unit content")],
            ),
            (
                V30,
                sd(r#"{"units":[{"name":"a.service","contents":"[Unit]\nNoEquals\nA=b\n"}]}"#),
                vec![(E, "$.systemd.units.0.contents", "invalid unit content")],
            ),
            (
                V33,
                sd(
                    r#"{"units":[{"name":"a.service","dropins":[{"name":"x.conf","contents":"[Service] junk\n"}]}]}"#,
                ),
                vec![(
                    E,
                    "$.systemd.units.0.dropins.0.contents",
                    "invalid unit content",
                )],
            ),
            (
                V31,
                sd(
                    r#"{"units":[{"name":"a.service","enabled":true,"contents":"[Unit]\nDescription=x\n"}]}"#,
                ),
                vec![(
                    W,
                    "$.systemd.units.0.contents",
                    "is enabled, but has no install section",
                )],
            ),
            (
                V33,
                sd(
                    r#"{"units":[{"name":"a.service","enabled":true,"contents":"[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target\n"}]}"#,
                ),
                vec![],
            ),
            (
                V30,
                sd(
                    r#"{"units":[{"name":"a.service","enabled":false,"contents":"[Unit]\nDescription=x\n"}]}"#,
                ),
                vec![],
            ),
        ],
    );
}

#[test]
fn unit_paths_conflict_with_storage() {
    run_table(
        "conflicts",
        vec![
            (
                V35,
                top(
                    r#""systemd":{"units":[{"name":"a.service","contents":"[Unit]\n"}]},"storage":{"files":[{"path":"/etc/systemd/system/a.service"}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.files.0.path",
                    "path conflicts with systemd unit or dropin",
                )],
            ),
            (
                V36,
                top(
                    r#""systemd":{"units":[{"name":"a.service","dropins":[{"name":"x.conf","contents":"[Unit]\n"}]}]},"storage":{"links":[{"path":"/etc/systemd/system/a.service.d/x.conf","target":"/x"}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.links.0.path",
                    "path conflicts with systemd unit or dropin",
                )],
            ),
            (
                V35,
                top(
                    r#""systemd":{"units":[{"name":"a.service","contents":"[Unit]\n"}]},"storage":{"directories":[{"path":"/etc/systemd/system/a.service"}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.directories.0.path",
                    "path conflicts with systemd unit or dropin",
                )],
            ),
            // A unit without contents writes nothing there.
            (
                V35,
                top(
                    r#""systemd":{"units":[{"name":"a.service","enabled":true}]},"storage":{"files":[{"path":"/etc/systemd/system/a.service"}]}"#,
                ),
                vec![],
            ),
            // Before 3.5 the rule did not exist.
            (
                V34,
                top(
                    r#""systemd":{"units":[{"name":"a.service","contents":"[Unit]\n"}]},"storage":{"files":[{"path":"/etc/systemd/system/a.service"}]}"#,
                ),
                vec![],
            ),
            (
                V33,
                top(
                    r#""systemd":{"units":[{"name":"a.service","contents":"[Unit]\n"}]},"storage":{"files":[{"path":"/etc/systemd/system/a.service"}]}"#,
                ),
                vec![],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Filesystems

#[test]
fn filesystems() {
    let fs = |members: &str| {
        st(format!(
            r#"{{"filesystems":[{{"device":"/dev/sda1"{members}}}]}}"#
        ))
    };
    const FORMAT: &str = "$.storage.filesystems.0.format";
    const LABEL: &str = "$.storage.filesystems.0.label";
    const EMPTY: &str = "format cannot be empty";
    let label =
        |fmt: &str, n: usize| fs(&format!(r#","format":"{fmt}","label":"{}""#, "l".repeat(n)));
    run_table(
        "filesystems",
        vec![
            (V30, fs(""), vec![]),
            (
                V30,
                fs(r#","format":"ext4","path":"/var","label":"var""#),
                vec![],
            ),
            (V30, fs(r#","path":"/var""#), vec![(E, FORMAT, EMPTY)]),
            (
                V31,
                fs(r#","label":"x""#),
                vec![
                    (E, FORMAT, EMPTY),
                    (
                        E,
                        LABEL,
                        "filesystem must specify format if label is specified",
                    ),
                ],
            ),
            (
                V32,
                fs(r#","uuid":"8e3b1f3a-0000-4000-8000-000000000000""#),
                vec![(E, FORMAT, EMPTY)],
            ),
            (
                V33,
                fs(r#","options":["-m","0"]"#),
                vec![(E, FORMAT, EMPTY)],
            ),
            (
                V31,
                fs(r#","mountOptions":["ro"]"#),
                vec![(E, FORMAT, EMPTY)],
            ),
            (
                V33,
                fs(r#","wipeFilesystem":true"#),
                vec![(E, FORMAT, EMPTY)],
            ),
            (V30, fs(r#","format":"""#), vec![]),
            (
                V30,
                fs(r#","format":"zfs""#),
                vec![(E, FORMAT, "invalid filesystem format")],
            ),
            (
                V32,
                fs(r#","format":"none""#),
                vec![(E, FORMAT, "invalid filesystem format")],
            ),
            (V33, fs(r#","format":"none""#), vec![]),
            (V36, fs(r#","format":"none""#), vec![]),
            (V30, fs(r#","format":"swap""#), vec![]),
            (V31, fs(r#","format":"vfat""#), vec![]),
            (V32, fs(r#","format":"btrfs""#), vec![]),
            (V33, fs(r#","format":"xfs""#), vec![]),
            (V30, label("ext4", 16), vec![]),
            (
                V30,
                label("ext4", 17),
                vec![(
                    E,
                    LABEL,
                    "cannot be longer than 16 characters when using ext4",
                )],
            ),
            (V31, label("xfs", 12), vec![]),
            (
                V31,
                label("xfs", 13),
                vec![(
                    E,
                    LABEL,
                    "cannot be longer than 12 characters when using xfs",
                )],
            ),
            (
                V32,
                label("vfat", 12),
                vec![(
                    E,
                    LABEL,
                    "cannot be longer than 11 characters when using vfat",
                )],
            ),
            (
                V33,
                label("swap", 16),
                vec![(
                    E,
                    LABEL,
                    "cannot be longer than 15 characters when using swap",
                )],
            ),
            (V33, label("btrfs", 256), vec![]),
            (
                V36,
                label("btrfs", 257),
                vec![(
                    E,
                    LABEL,
                    "cannot be longer than 256 characters when using btrfs",
                )],
            ),
            // The next two warnings are newer than Go 2.14, which does not give them for 3.0-3.3.
            (
                V34,
                st(
                    r#"{"disks":[{"device":"/dev/sda","partitions":[{"number":1}]}],"filesystems":[{"device":"/dev/sda","format":"ext4"}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.filesystems.0.device",
                    "filesystem overwrites partitioned device",
                )],
            ),
            (
                V35,
                st(
                    r#"{"disks":[{"device":"/dev/sda","wipeTable":true}],"filesystems":[{"device":"/dev/sda","format":"ext4"}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.filesystems.0.device",
                    "device matches disk with wipeTable enabled",
                )],
            ),
            (
                V31,
                st(
                    r#"{"disks":[{"device":"/dev/sda","wipeTable":true}],"filesystems":[{"device":"/dev/sda","format":"ext4","wipeFilesystem":true}]}"#,
                ),
                vec![],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Disks and partitions

#[test]
fn partitions() {
    let parts = |p: &str| {
        st(format!(
            r#"{{"disks":[{{"device":"/dev/sda","partitions":{p}}}]}}"#
        ))
    };
    const P0: &str = "$.storage.disks.0.partitions.0";
    const P1: &str = "$.storage.disks.0.partitions.1";
    const GUID: &str = "doesn't match the form";
    run_table(
        "partitions",
        vec![
            (V30, parts(r#"[{"number":1,"label":"root","sizeMiB":100,"startMiB":1}]"#), vec![]),
            (V33, parts(&format!(r#"[{{"label":"{}"}}]"#, "a".repeat(36))), vec![]),
            (
                V30,
                parts(&format!(r#"[{{"label":"{}"}}]"#, "a".repeat(37))),
                vec![(
                    E,
                    "$.storage.disks.0.partitions.0.label",
                    "partition labels may not exceed 36 characters",
                )],
            ),
            (
                V33,
                parts(r#"[{"label":"a:b"}]"#),
                vec![(
                    E,
                    "$.storage.disks.0.partitions.0.label",
                    "partition label will be truncated to text before the colon",
                )],
            ),
            (
                V30,
                parts(r#"[{"number":1,"guid":"nope"}]"#),
                vec![(E, "$.storage.disks.0.partitions.0.guid", GUID)],
            ),
            (
                V32,
                parts(r#"[{"number":1,"typeGuid":"0FC63DAF-8483-4772-8E79-3D69D8477DE"}]"#),
                vec![(E, "$.storage.disks.0.partitions.0.typeGuid", GUID)],
            ),
            (
                V31,
                parts(r#"[{"number":1,"typeGuid":"0fc63daf-8483-4772-8e79-3d69d8477de4","guid":""}]"#),
                vec![],
            ),
            (
                V30,
                parts(r#"[{"sizeMiB":10}]"#),
                vec![(E, P0, "a partition number >= 1 or a label must be specified")],
            ),
            (V30, parts(r#"[{"label":"data"}]"#), vec![]),
            (
                V31,
                parts(r#"[{"number":1,"startMiB":1,"sizeMiB":10},{"number":2,"startMiB":5,"sizeMiB":10}]"#),
                vec![(E, P1, "partitions overlap")],
            ),
            (
                V33,
                parts(r#"[{"number":1,"startMiB":1,"sizeMiB":10},{"number":2,"startMiB":11,"sizeMiB":10}]"#),
                vec![],
            ),
            (
                V30,
                parts(r#"[{"number":1},{"number":1}]"#),
                vec![
                    (E, P1, "duplicate entry defined"),
                    (E, P1, "partition numbers collide"),
                ],
            ),
            (
                V32,
                parts(r#"[{"number":1,"label":"a"},{"number":2,"label":"a"}]"#),
                vec![(E, P1, "cannot use the same partition label twice")],
            ),
            (
                V32,
                parts(r#"[{"number":1,"shouldExist":false,"label":"x"}]"#),
                vec![(
                    E,
                    P0,
                    "shouldExist specified false with other options also specified",
                )],
            ),
            (
                V33,
                parts(r#"[{"number":1,"shouldExist":false,"sizeMiB":0}]"#),
                vec![(
                    E,
                    P0,
                    "shouldExist specified false with other options also specified",
                )],
            ),
            (V33, parts(r#"[{"number":1,"shouldExist":false}]"#), vec![]),
            // Up to 3.3: a partition without a number next to a shouldExist:false one.
            (
                V33,
                parts(r#"[{"number":1,"shouldExist":false},{"label":"x"}]"#),
                vec![(
                    E,
                    "$.storage.disks.0.partitions",
                    "shouldExist is false for a partition and other partition(s) has start or size 0",
                )],
            ),
            (
                V31,
                parts(r#"[{"number":1,"shouldExist":false},{"label":"x"}]"#),
                vec![(
                    E,
                    "$.storage.disks.0.partitions",
                    "shouldExist is false for a partition and other partition(s) has start or size 0",
                )],
            ),
            (V34, parts(r#"[{"number":1,"shouldExist":false},{"label":"x"}]"#), vec![]),
            (V36, parts(r#"[{"number":1,"shouldExist":false},{"label":"x"}]"#), vec![]),
            (
                V30,
                st(r#"{"disks":[{"device":""}]}"#),
                vec![(E, "$.storage.disks.0.device", "disk device is required")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// RAID

#[test]
fn raid() {
    let raid = |m: &str| st(format!(r#"{{"raid":[{{"name":"md0"{m}}}]}}"#));
    const LEVEL: &str = "$.storage.raid.0.level";
    run_table(
        "raid",
        vec![
            (
                V30,
                raid(r#","level":"raid1","devices":["/dev/sda","/dev/sdb"],"spares":1"#),
                vec![],
            ),
            (
                V33,
                raid(r#","level":"linear","devices":["/dev/sda"]"#),
                vec![],
            ),
            (
                V33,
                raid(r#","devices":["/dev/sda"]"#),
                vec![(E, LEVEL, "raid level is required")],
            ),
            (
                V32,
                raid(r#","devices":["/dev/sda"]"#),
                vec![(E, LEVEL, "unrecognized raid level")],
            ),
            (
                V32,
                raid(r#","level":"raid1""#),
                vec![(E, "$.storage.raid.0.devices", "raid devices required")],
            ),
            (
                V30,
                raid(r#","level":"raid7","devices":["/dev/sda"]"#),
                vec![(E, LEVEL, "unrecognized raid level")],
            ),
            (
                V31,
                raid(r#","level":"raid0","devices":["/dev/sda"],"spares":1"#),
                vec![(E, LEVEL, "spares unsupported for linear and raid0 arrays")],
            ),
            (
                V32,
                raid(r#","level":"linear","devices":["/dev/sda"],"spares":2"#),
                vec![(E, LEVEL, "spares unsupported for linear and raid0 arrays")],
            ),
            (
                V33,
                raid(r#","level":"raid0","devices":["/dev/sda"],"spares":0"#),
                vec![],
            ),
            (
                V33,
                raid(r#","level":"raid5","devices":[]"#),
                vec![(E, "$.storage.raid.0.devices", "raid devices required")],
            ),
            (
                V36,
                raid(r#","level":"raid10","devices":["/dev/sda"]"#),
                vec![],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// LUKS

#[test]
fn luks() {
    let luks = |m: &str| {
        st(format!(
            r#"{{"luks":[{{"name":"root","device":"/dev/sda"{m}}}]}}"#
        ))
    };
    run_table(
        "luks",
        vec![
            (V32, luks(""), vec![]),
            (V32, luks(r#","clevis":{"tpm2":true}"#), vec![]),
            (
                V32,
                st(r#"{"luks":[{"name":"a/b","device":"/dev/sda"}]}"#),
                vec![(
                    E,
                    "$.storage.luks.0.name",
                    "device names cannot contain slashes",
                )],
            ),
            (
                V33,
                luks(&format!(r#","label":"{}""#, "l".repeat(48))),
                vec![(
                    E,
                    "$.storage.luks.0.label",
                    "luks device labels cannot be longer than 47 characters",
                )],
            ),
            (
                V33,
                luks(&format!(r#","label":"{}""#, "l".repeat(47))),
                vec![],
            ),
            (
                V32,
                st(r#"{"luks":[{"name":"root"}]}"#),
                vec![(E, "$.storage.luks.0.device", "disk device is required")],
            ),
            (
                V32,
                luks(r#","clevis":{"tpm2":true,"custom":{"pin":"tpm2","config":"{}"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis",
                    "cannot use custom clevis config with tpm2, tang, or threshold",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"threshold":2,"custom":{"pin":"sss","config":"{}"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis",
                    "cannot use custom clevis config with tpm2, tang, or threshold",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"custom":{"pin":"sss","config":"{}","needsNetwork":true}}"#),
                vec![],
            ),
            (
                V32,
                luks(r#","clevis":{"custom":{"config":"{}"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.custom.pin",
                    "missing required custom clevis pin",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"custom":{"pin":"tang"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.custom.config",
                    "missing required custom clevis config",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"custom":{"pin":"foo","config":"{}"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.custom.pin",
                    "unsupported clevis pin",
                )],
            ),
            (
                V35,
                luks(r#","clevis":{"custom":{"pin":"foo","config":"{}"}}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.custom.pin",
                    "unsupported clevis pin",
                )],
            ),
            (
                V36,
                luks(r#","clevis":{"custom":{"pin":"foo","config":"{}"}}"#),
                vec![],
            ),
            (
                V32,
                luks(r#","clevis":{"tang":[{"url":"http://t","thumbprint":"abc"}]}"#),
                vec![],
            ),
            (
                V32,
                luks(r#","clevis":{"tang":[{"url":"ftp://t","thumbprint":"abc"}]}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.tang.0.url",
                    "invalid url scheme",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"tang":[{"url":"http://t/%zz","thumbprint":"abc"}]}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.tang.0.url",
                    "unable to parse url",
                )],
            ),
            (
                V33,
                luks(r#","clevis":{"tang":[{"url":"http://t"}]}"#),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.tang.0.thumbprint",
                    "thumbprint is required",
                )],
            ),
            (
                V34,
                luks(
                    r#","clevis":{"tang":[{"url":"http://t","thumbprint":"abc","advertisement":"{\"payload\":\"x\"}"}]}"#,
                ),
                vec![],
            ),
            (
                V34,
                luks(
                    r#","clevis":{"tang":[{"url":"http://t","thumbprint":"abc","advertisement":"{not json"}]}"#,
                ),
                vec![(
                    E,
                    "$.storage.luks.0.clevis.tang.0.advertisement",
                    "advertisement is not valid JSON",
                )],
            ),
            (
                V33,
                luks(
                    r#","clevis":{"tang":[{"url":"http://t","thumbprint":"abc","advertisement":"{not json"}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.luks.0.clevis.tang.0.advertisement",
                    "Unused key advertisement",
                )],
            ),
            (V35, luks(r#","cex":{"enabled":true}"#), vec![]),
            (
                V35,
                luks(r#","cex":{"enabled":true},"clevis":{"tpm2":true}"#),
                vec![(E, "$.storage.luks.0.cex", "cannot use cex with clevis")],
            ),
            (
                V36,
                luks(r#","cex":{"enabled":true},"keyFile":{"source":"data:,k"}"#),
                vec![(E, "$.storage.luks.0.cex", "cannot use key file with cex")],
            ),
            (
                V35,
                luks(r#","cex":{"enabled":false},"clevis":{"tpm2":true}"#),
                vec![],
            ),
            (
                V34,
                luks(r#","cex":{"enabled":true},"clevis":{"tpm2":true}"#),
                vec![(W, "$.storage.luks.0.cex", "Unused key cex")],
            ),
            (V32, luks(r#","keyFile":{"source":"data:,secret"}"#), vec![]),
            (
                V32,
                luks(r#","keyFile":{"source":"ftp://k"}"#),
                vec![
                    (E, "$.storage.luks.0.keys", "invalid key-file source"),
                    (E, "$.storage.luks.0.keyFile.source", "invalid url scheme"),
                ],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, fields from later versions, types, case-insensitive keys

#[test]
fn unknown_keys_and_versions_of_fields() {
    run_table(
        "keys",
        vec![
            (
                V30,
                st(r#"{"files":[{"path":"/a","bogus":1}]}"#),
                vec![(W, "$.storage.files.0.bogus", "Unused key bogus")],
            ),
            (
                V33,
                top(r#""extra":{"x":1}"#),
                vec![(W, "$.extra", "Unused key extra")],
            ),
            (
                V31,
                ig(r#""nope":true"#),
                vec![(W, "$.ignition.nope", "Unused key nope")],
            ),
            // Unknown keys never hide errors next to them.
            (
                V32,
                st(r#"{"files":[{"path":"rel","bogus":1}]}"#),
                vec![
                    (E, "$.storage.files.0.path", "path not absolute"),
                    (W, "$.storage.files.0.bogus", "Unused key bogus"),
                ],
            ),
            (
                V31,
                st(r#"{"luks":[{"name":"root","device":"/dev/sda"}]}"#),
                vec![(W, "$.storage.luks", "Unused key luks")],
            ),
            (
                V32,
                top(r#""kernelArguments":{"shouldExist":["a"]}"#),
                vec![(W, "$.kernelArguments", "Unused key kernelArguments")],
            ),
            (
                V33,
                top(r#""kernelArguments":{"shouldExist":["a"]}"#),
                vec![],
            ),
            (
                V30,
                st(
                    r#"{"filesystems":[{"device":"/dev/sda","format":"ext4","mountOptions":["ro"]}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.filesystems.0.mountOptions",
                    "Unused key mountOptions",
                )],
            ),
            (
                V31,
                pw(r#"{"users":[{"name":"u","shouldExist":false}]}"#),
                vec![(W, "$.passwd.users.0.shouldExist", "Unused key shouldExist")],
            ),
            (
                V32,
                pw(
                    r#"{"users":[{"name":"u","shouldExist":false}],"groups":[{"name":"g","shouldExist":false}]}"#,
                ),
                vec![],
            ),
            (
                V31,
                st(
                    r#"{"disks":[{"device":"/dev/sda","partitions":[{"number":1,"resize":true}]}]}"#,
                ),
                vec![(
                    W,
                    "$.storage.disks.0.partitions.0.resize",
                    "Unused key resize",
                )],
            ),
            (
                V33,
                st(r#"{"luks":[{"name":"r","device":"/dev/sda","discard":true}]}"#),
                vec![(W, "$.storage.luks.0.discard", "Unused key discard")],
            ),
            (
                V34,
                st(
                    r#"{"luks":[{"name":"r","device":"/dev/sda","discard":true,"openOptions":["--x"]}]}"#,
                ),
                vec![],
            ),
            // A later-version field is ignored, so its bad value is not an error.
            (
                V30,
                file_contents(r#"{"source":"http://x/y","httpHeaders":[{"name":""}]}"#),
                vec![(
                    W,
                    "$.storage.files.0.contents.httpHeaders",
                    "Unused key httpHeaders",
                )],
            ),
        ],
    );
}

#[test]
fn type_errors() {
    run_table(
        "types",
        vec![
            (
                V30,
                st(r#"{"files":[{"path":"/a","mode":"420"}]}"#),
                vec![(E, "$.storage.files.0.mode", "cannot use string")],
            ),
            (
                V33,
                st(r#"{"files":{"path":"/a"}}"#),
                vec![(E, "$.storage.files", "cannot use object")],
            ),
            (
                V31,
                st(r#"{"files":[{"path":"/a","overwrite":"yes"}]}"#),
                vec![(E, "$.storage.files.0.overwrite", "cannot use string")],
            ),
            (
                V32,
                st(r#"{"files":[{"path":1}]}"#),
                vec![(E, "$.storage.files.0.path", "cannot use number")],
            ),
            (
                V36,
                st(r#"{"files":[{"path":"/a","mode":1.5}]}"#),
                vec![(E, "$.storage.files.0.mode", "cannot use number 1.5")],
            ),
            (
                V33,
                sd(r#"{"units":[{"name":"a.service","enabled":"true"}]}"#),
                vec![(E, "$.systemd.units.0.enabled", "cannot use string")],
            ),
            (
                V30,
                pw(r#"{"users":[{"name":"u","sshAuthorizedKeys":"key"}]}"#),
                vec![(E, "$.passwd.users.0.sshAuthorizedKeys", "cannot use string")],
            ),
            // Every type error is reported, not just the first.
            (
                V33,
                st(r#"{"files":[{"path":"/a","mode":"x"}],"directories":[{"path":false}]}"#),
                vec![
                    (E, "$.storage.files.0.mode", "cannot use string"),
                    (E, "$.storage.directories.0.path", "cannot use bool"),
                ],
            ),
            (
                V30,
                top(r#""storage":[]"#),
                vec![(E, "$.storage", "cannot use array")],
            ),
            // null is the zero value, not a type error.
            (
                V33,
                st(r#"{"files":null,"directories":[{"path":"/a","mode":null}]}"#),
                vec![],
            ),
        ],
    );
}

#[test]
fn case_insensitive_keys() {
    run_table(
        "case",
        vec![
            // The key is used (its value is validated) and warned about.
            (
                V30,
                st(r#"{"files":[{"PATH":"/a/../b"}]}"#),
                vec![
                    (E, "$.storage.files.0.path", "path is not fully simplified"),
                    (W, "$.storage.files.0.PATH", "Unused key PATH"),
                ],
            ),
            (
                V33,
                top(r#""Storage":{"files":[{"path":"rel"}]}"#),
                vec![
                    (E, "$.storage.files.0.path", "path not absolute"),
                    (W, "$.Storage", "Unused key Storage"),
                ],
            ),
            (
                V32,
                sd(r#"{"Units":[{"Name":"a.service"}]}"#),
                // Go warns at Units only, and so do we (nothing below a case-mismatched key).
                vec![(W, "$.systemd.Units", "Unused key Units")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Input and version problems

enum Outcome {
    Empty,
    Version(VersionError),
    /// One error at this path (empty: any) with this message substring, located (at this
    /// line:col when given; columns of syntax and type errors: `deliberate_differences`).
    Syntax(&'static str, &'static str, Option<(u32, u32)>),
    Ok,
}

#[test]
fn input_and_versions() {
    let rows: Vec<(&str, Outcome)> = vec![
        ("", Outcome::Empty),
        (r#"{"ignition":{"version":"3.0.0"}}"#, Outcome::Ok),
        (r#"{"ignition":{"version":"3.6.0"}}"#, Outcome::Ok),
        (r#"{"ignition":{"version":"2.2.0"}}"#, Outcome::Ok),
        (
            r#"{"ignition":{"version":"3.7.0"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"4.0.0"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"3.1.1"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"2.1.0"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"3.4.0-experimental"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"3.6.0-experimental"}}"#,
            Outcome::Version(VersionError::Unsupported),
        ),
        (
            r#"{"ignition":{"version":"abc"}}"#,
            Outcome::Version(VersionError::Invalid),
        ),
        (
            r#"{"ignition":{"version":"3.3"}}"#,
            Outcome::Version(VersionError::Invalid),
        ),
        (
            r#"{"ignition":{"version":""}}"#,
            Outcome::Version(VersionError::Invalid),
        ),
        (
            r#"{"ignition":{}}"#,
            Outcome::Version(VersionError::Invalid),
        ),
        (r#"{}"#, Outcome::Version(VersionError::Invalid)),
        (
            r#"{"ignition":{"version":null}}"#,
            Outcome::Version(VersionError::Invalid),
        ),
        (
            r#"{"ignition":{"version":3}}"#,
            Outcome::Syntax("$.ignition.version", "cannot use number as a string", None),
        ),
        (
            r#"[]"#,
            Outcome::Syntax("$", "cannot use array", Some((1, 2))),
        ),
        (
            r#"{"ignition":{"version":"3.0.0"}} x"#,
            Outcome::Syntax("$", "after top-level value", Some((1, 34))),
        ),
        (
            r#"{"ignition":{"version":"3.0.0"}}{}"#,
            Outcome::Syntax("$", "after top-level value", None),
        ),
        (
            "{\"ignition\":\n  {\"version\":\"3.0.0\"",
            Outcome::Syntax("", "unexpected end of JSON input", None),
        ),
        (
            "{\"ignition\":{\"version\":\"3.0.0\"},\n\n  \"storage\": {,}}",
            Outcome::Syntax("", "", None),
        ),
        ("   ", Outcome::Syntax("", "", None)),
    ];
    let mut failures = Vec::new();
    for (n, (text, want)) in rows.iter().enumerate() {
        let got = ignition::parse(text.as_bytes());
        let ok = match (want, &got) {
            (Outcome::Empty, Err(ParseError::Empty)) => true,
            (Outcome::Version(v), Err(ParseError::Version(g))) => v == g,
            (Outcome::Ok, Ok(_)) => true,
            (Outcome::Syntax(path, msg, pos), Err(ParseError::Invalid(r))) => {
                let errors: Vec<&Finding> = r.errors().collect();
                errors.len() == 1
                    && (path.is_empty() || errors[0].path.to_string() == *path)
                    && errors[0].message.contains(msg)
                    && (pos.is_none() || errors[0].position == *pos)
                    && errors[0].position.is_some()
            }
            _ => false,
        };
        if !ok {
            let shown = match &got {
                Ok(p) => format!("Ok({})", p.report),
                Err(ParseError::Invalid(r)) => format!(
                    "Invalid:\n{}",
                    r.findings
                        .iter()
                        .map(|f| format!("    {f}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                Err(e) => format!("{e:?}"),
            };
            failures.push(format!("[input row {n}] {text:?}\n  got {shown}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The messages of empty input and bad versions are Go's.
#[test]
fn go_messages_for_input_and_versions() {
    let msg = |t: &str| ignition::parse(t.as_bytes()).unwrap_err().to_string();
    assert_eq!(msg(""), "not a config (empty)");
    assert_eq!(
        msg(r#"{"ignition":{"version":"9.9.9"}}"#),
        "unsupported config version"
    );
    assert_eq!(
        msg(r#"{"ignition":{"version":"3.5.0-experimental"}}"#),
        "unsupported config version"
    );
    assert_eq!(
        msg(r#"{"ignition":{"version":"three"}}"#),
        "invalid config version (couldn't parse)"
    );
}

// ---------------------------------------------------------------------------------------------
// Line and column on multi-line input

fn position_of(report: &Report, sev: Severity, path: &str) -> Option<(u32, u32)> {
    report
        .findings
        .iter()
        .find(|f| f.severity == sev && f.path.to_string() == path)
        .and_then(|f| f.position)
}

#[test]
fn positions_on_multi_line_input() {
    // Positions as Go 2.14 prints them (checked by hand with /usr/bin/ignition-validate).
    let text = r#"{
  "ignition": {"version": "3.3.0"},
  "storage": {
    "files": [
      {"path": "/ok"},
      {
        "path": "/a/../b",
        "mode": 4095,
        "bogus": true
      }
    ],
    "disks": [{"device": "rel"}]
  },
  "systemd": {"units": [{"name": "nope"}]}
}"#;
    let report = match ignition::parse(text.as_bytes()) {
        Err(ParseError::Invalid(r)) => r,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let cases = [
        (E, "$.storage.files.1.path", (7, 17)),
        (W, "$.storage.files.1.mode", (8, 17)),
        (W, "$.storage.files.1.bogus", (9, 9)),
        (E, "$.storage.disks.0.device", (12, 26)),
        (E, "$.systemd.units.0.name", (14, 34)),
    ];
    let mut failures = Vec::new();
    for (sev, path, want) in cases {
        let got = position_of(&report, sev, path);
        if got != Some(want) {
            failures.push(format!("{sev} at {path}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nreport:\n{report}",
        failures.join("\n")
    );

    // Type errors are located too.
    let text = "{\"ignition\": {\"version\": \"3.1.0\"},\n \"storage\": {\"files\": [\n  {\"path\": \"/a\", \"overwrite\": 1}]}}";
    let report = match ignition::parse(text.as_bytes()) {
        Err(ParseError::Invalid(r)) => r,
        other => panic!("expected Invalid, got {other:?}"),
    };
    // (Go's column is one further; see `deliberate_differences`.)
    assert_eq!(
        position_of(&report, E, "$.storage.files.0.overwrite").map(|p| p.0),
        Some(3),
        "{report}"
    );

    // A warning on a valid config is located as well.
    let text = "{\"ignition\": {\"version\": \"3.2.0\"},\n\"passwd\": {\"users\": [{\"name\": \"core\",\n   \"extra\": 1}]}}";
    let parsed = ignition::parse(text.as_bytes()).unwrap();
    assert_eq!(
        position_of(&parsed.report, W, "$.passwd.users.0.extra"),
        Some((3, 4)),
        "{}",
        parsed.report
    );
}

// ---------------------------------------------------------------------------------------------
// Known disagreements (correct expectations the engine does not meet yet)

/// Where we differ from Go 2.14 on purpose (docs/architecture.md lists these): syntax and type
/// errors point at the offending character or value itself, where Go points one byte after it;
/// and the base64 message is our own.
#[test]
fn deliberate_differences() {
    run_table_with(
        "differences",
        vec![(
            V33,
            file_contents(r#"{"source":"data:text/plain;base64,aGk"}"#),
            vec![(
                E,
                "$.storage.files.0.contents.source",
                "illegal base64 data",
            )],
        )],
        true,
    );
    let positions: [(&str, (u32, u32)); 4] = [
        (r#"{"ignition":{"version":3}}"#, (1, 24)),
        (r#"{"ignition":{"version":"3.0.0"}}{}"#, (1, 33)),
        ("{\"ignition\":{\"version\":\"3.0.0\"},\n\n  \"storage\": {,}}", (3, 15)),
        (
            "{\"ignition\": {\"version\": \"3.1.0\"},\n \"storage\": {\"files\": [\n  {\"path\": \"/a\", \"overwrite\": 1}]}}",
            (3, 31),
        ),
    ];
    for (text, want) in positions {
        let got = match ignition::parse(text.as_bytes()) {
            Err(ParseError::Invalid(r)) => r.errors().next().and_then(|f| f.position),
            _ => None,
        };
        assert_eq!(got, Some(want), "{text:?}");
    }
}
