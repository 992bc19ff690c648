//! Kernel command lines: split as the kernel does (double quotes protect spaces) and edit them
//! the way `rpm-ostree kargs` does. Pure; no I/O.

use thiserror::Error;

/// Why a kernel-argument edit cannot be applied.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KargsError {
    #[error("kernel argument {arg:?} is not present (current arguments: {current})")]
    NotFound { arg: String, current: String },
    #[error("kernel argument key {key:?} has several values ({values}); name the one to change as {key}=VALUE")]
    Ambiguous { key: String, values: String },
    #[error("--replace needs KEY=VALUE or KEY=OLD=NEW, got {0:?}")]
    BadReplace(String),
    #[error("empty kernel argument")]
    Empty,
}

/// Splits a kernel command line into arguments. Whitespace separates arguments except inside
/// double quotes; the quotes stay part of the argument, as in `/proc/cmdline` and BLS `options`.
pub fn split(cmdline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        if c == '"' {
            quoted = !quoted;
            cur.push(c);
        } else if c.is_whitespace() && !quoted {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Joins arguments back into one command line.
pub fn join(args: &[String]) -> String {
    args.join(" ")
}

/// The key of an argument: everything before the first `=` that is not inside quotes.
pub fn key_of(arg: &str) -> &str {
    let mut quoted = false;
    for (i, c) in arg.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => return &arg[..i],
            _ => {}
        }
    }
    arg
}

/// Edits asked for on the command line. Applied in this order: delete, delete-if-present,
/// replace, append, append-if-missing; within one kind, in the order given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Edits {
    pub delete: Vec<String>,
    pub delete_if_present: Vec<String>,
    pub replace: Vec<String>,
    pub append: Vec<String>,
    pub append_if_missing: Vec<String>,
}

impl Edits {
    /// True when no edit was asked for (`kargs` then only prints).
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.delete_if_present.is_empty()
            && self.replace.is_empty()
            && self.append.is_empty()
            && self.append_if_missing.is_empty()
    }

    /// Applies the edits to `current` and returns the new argument list.
    pub fn apply(&self, current: &[String]) -> Result<Vec<String>, KargsError> {
        let mut args = current.to_vec();
        for a in &self.delete {
            delete(&mut args, a, true)?;
        }
        for a in &self.delete_if_present {
            delete(&mut args, a, false)?;
        }
        for a in &self.replace {
            replace(&mut args, a)?;
        }
        for a in &self.append {
            nonempty(a)?;
            args.push(a.clone());
        }
        for a in &self.append_if_missing {
            nonempty(a)?;
            let key = key_of(a);
            if !args.iter().any(|x| key_of(x) == key) {
                args.push(a.clone());
            }
        }
        Ok(args)
    }
}

fn nonempty(a: &str) -> Result<(), KargsError> {
    if a.trim().is_empty() {
        Err(KargsError::Empty)
    } else {
        Ok(())
    }
}

fn values_of(args: &[String], key: &str) -> String {
    let v: Vec<&str> = args
        .iter()
        .filter(|x| key_of(x) == key)
        .map(String::as_str)
        .collect();
    v.join(", ")
}

/// Deletes `spec`: an exact `K=V`, or a bare `K` when K has exactly one value.
fn delete(args: &mut Vec<String>, spec: &str, must_exist: bool) -> Result<(), KargsError> {
    nonempty(spec)?;
    let pos = if spec.contains('=') {
        args.iter().position(|x| x == spec)
    } else {
        let hits: Vec<usize> = (0..args.len())
            .filter(|&i| key_of(&args[i]) == spec)
            .collect();
        if hits.len() > 1 {
            return Err(KargsError::Ambiguous {
                key: spec.to_string(),
                values: values_of(args, spec),
            });
        }
        hits.first().copied()
    };
    match pos {
        Some(i) => {
            args.remove(i);
            Ok(())
        }
        None if must_exist => Err(KargsError::NotFound {
            arg: spec.to_string(),
            current: join(args),
        }),
        None => Ok(()),
    }
}

/// Replaces with `K=V` (K must have one value) or `K=OLD=NEW` (the value OLD becomes NEW).
fn replace(args: &mut [String], spec: &str) -> Result<(), KargsError> {
    let Some((key, rest)) = spec.split_once('=') else {
        return Err(KargsError::BadReplace(spec.to_string()));
    };
    if key.is_empty() {
        return Err(KargsError::BadReplace(spec.to_string()));
    }
    let hits: Vec<usize> = (0..args.len())
        .filter(|&i| key_of(&args[i]) == key)
        .collect();
    let not_found = |args: &[String]| KargsError::NotFound {
        arg: key.to_string(),
        current: join(args),
    };
    // K=OLD=NEW, when some value of K is exactly OLD.
    if let Some((old, new)) = rest.split_once('=') {
        let old_arg = format!("{key}={old}");
        if let Some(&i) = hits.iter().find(|&&i| args[i] == old_arg) {
            args[i] = format!("{key}={new}");
            return Ok(());
        }
    }
    match hits.as_slice() {
        [] => Err(not_found(args)),
        [i] => {
            args[*i] = spec.to_string();
            Ok(())
        }
        _ => Err(KargsError::Ambiguous {
            key: key.to_string(),
            values: values_of(args, key),
        }),
    }
}

/// Removes the `ostree=` argument libostree adds to every boot entry (it adds it again itself).
pub fn without_ostree_arg(args: Vec<String>) -> Vec<String> {
    args.into_iter().filter(|a| key_of(a) != "ostree").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        split(s)
    }

    #[test]
    fn split_like_the_kernel() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  a  b=c\td ", &["a", "b=c", "d"]),
            (
                r#"root=UUID=1 foo="a b" "x y"=z quiet"#,
                &["root=UUID=1", r#"foo="a b""#, r#""x y"=z"#, "quiet"],
            ),
            (r#"unterminated="a b"#, &[r#"unterminated="a b"#]),
        ];
        for (line, want) in cases {
            assert_eq!(split(line), *want, "{line}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(key_of("root=UUID=1"), "root");
        assert_eq!(key_of("quiet"), "quiet");
        assert_eq!(key_of(r#""a=b"=c"#), r#""a=b""#);
    }

    #[test]
    fn edit_table() {
        struct Case {
            cur: &'static str,
            edits: Edits,
            want: Result<&'static str, ()>,
        }
        let e = |f: fn(&mut Edits)| {
            let mut e = Edits::default();
            f(&mut e);
            e
        };
        let cases = [
            Case {
                cur: "a b=1",
                edits: e(|e| e.append = vec!["c=2".into(), "b=3".into()]),
                want: Ok("a b=1 c=2 b=3"),
            },
            Case {
                cur: "a b=1",
                edits: e(|e| e.append_if_missing = vec!["b=2".into(), "c".into()]),
                want: Ok("a b=1 c"),
            },
            Case {
                cur: "a b=1 b=2",
                edits: e(|e| e.delete = vec!["b=2".into()]),
                want: Ok("a b=1"),
            },
            Case {
                cur: "a b=1 b=2",
                edits: e(|e| e.delete = vec!["b".into()]),
                want: Err(()),
            },
            Case {
                cur: "a b=1",
                edits: e(|e| e.delete = vec!["b".into(), "a".into()]),
                want: Ok(""),
            },
            Case {
                cur: "a",
                edits: e(|e| e.delete = vec!["zz".into()]),
                want: Err(()),
            },
            Case {
                cur: "a",
                edits: e(|e| e.delete_if_present = vec!["zz".into(), "a".into()]),
                want: Ok(""),
            },
            Case {
                cur: "a b=1",
                edits: e(|e| e.replace = vec!["b=9".into()]),
                want: Ok("a b=9"),
            },
            Case {
                cur: "a b=1 b=2",
                edits: e(|e| e.replace = vec!["b=2=5".into()]),
                want: Ok("a b=1 b=5"),
            },
            Case {
                cur: "a b=1 b=2",
                edits: e(|e| e.replace = vec!["b=7".into()]),
                want: Err(()),
            },
            Case {
                cur: "a",
                edits: e(|e| e.replace = vec!["nokey=1".into()]),
                want: Err(()),
            },
            Case {
                cur: "a",
                edits: e(|e| e.replace = vec!["novalue".into()]),
                want: Err(()),
            },
            Case {
                cur: r#"a x="1 2""#,
                edits: e(|e| {
                    e.delete = vec![r#"x="1 2""#.into()];
                    e.append = vec![r#"y="3 4""#.into()];
                    e.replace = vec!["a=b".into()]
                }),
                want: Ok(r#"a=b y="3 4""#),
            },
        ];
        for c in cases {
            let got = c.edits.apply(&v(c.cur)).map(|a| join(&a)).map_err(|_| ());
            assert_eq!(got.as_deref(), c.want.as_deref(), "{} {:?}", c.cur, c.edits);
        }
    }

    #[test]
    fn ambiguous_delete_names_values() {
        let mut ed = Edits::default();
        ed.delete.push("console".into());
        let err = ed.apply(&v("console=tty0 console=ttyS0")).unwrap_err();
        assert!(
            err.to_string().contains("console=tty0, console=ttyS0"),
            "{err}"
        );
    }

    #[test]
    fn strips_ostree_arg() {
        assert_eq!(
            without_ostree_arg(v("rw ostree=/ostree/boot.1/x/y/0 quiet")),
            v("rw quiet")
        );
    }
}
