//! A systemd unit file reader with the strictness Go Ignition applies to
//! unit and drop-in contents: sections in brackets, `Name=value` options,
//! `#`/`;` comments, backslash continuations, lines of at most 2048 bytes.
//! Text before the first section is skipped.

/// One option: its section, name and (trimmed) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

const LINE_MAX: usize = 2048;

pub fn parse(text: &str) -> Result<Vec<UnitOption>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut section: Option<String> = None;
    let mut options = Vec::new();
    loop {
        let rest = &b[i..];
        if rest.len() >= LINE_MAX && !rest[..LINE_MAX].iter().any(|c| *c == b'\n' || *c == b'\r') {
            return Err(format!("line too long (max {LINE_MAX} bytes)"));
        }
        let Some(&c) = b.get(i) else {
            return Ok(options);
        };
        match c {
            b'[' => {
                let close = b[i..]
                    .iter()
                    .position(|c| *c == b']')
                    .ok_or("unable to find end of section")?;
                let name = &text[i + 1..i + close];
                let (line, next) = to_eol(text, i + close + 1);
                if !line.trim().is_empty() {
                    return Err(format!(
                        "found garbage after section name {}: {:?}",
                        section.as_deref().unwrap_or(""),
                        line.trim()
                    ));
                }
                section = Some(name.to_string());
                i = next;
            }
            b'#' | b';' => i = skip_comment(text, i),
            _ if section.is_none() => i += 1,
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let eq = b[i..]
                    .iter()
                    .position(|c| matches!(c, b'=' | b'\n' | b'\r'));
                let eq = match eq {
                    Some(p) if b[i + p] == b'=' => i + p,
                    Some(_) => {
                        return Err(
                            "unexpected newline encountered while parsing option name".into()
                        )
                    }
                    None => return Err("EOF".into()),
                };
                let name = text[i..eq].trim().to_string();
                let (value, next) = option_value(text, eq + 1);
                options.push(UnitOption {
                    section: section.clone().unwrap_or_default(),
                    name,
                    value,
                });
                i = next;
            }
        }
    }
}

/// The line starting at `i` without its line ending, and where the next starts.
fn to_eol(text: &str, i: usize) -> (&str, usize) {
    let end = text[i..].find('\n').map_or(text.len(), |p| i + p);
    let next = (end + 1).min(text.len());
    let line = text[i..end].strip_suffix('\r').unwrap_or(&text[i..end]);
    (line, next)
}

fn skip_comment(text: &str, mut i: usize) -> usize {
    loop {
        let (line, next) = to_eol(text, i);
        let at_end = next >= text.len();
        i = next;
        if !line.trim_end_matches(' ').ends_with('\\') || at_end {
            return i;
        }
    }
}

fn option_value(text: &str, mut i: usize) -> (String, usize) {
    let mut value = String::new();
    loop {
        let (line, next) = to_eol(text, i);
        let at_eof = next >= text.len() && !text[i..].contains('\n');
        i = next;
        if line.trim().is_empty() {
            break;
        }
        value.push_str(line);
        if !line.ends_with('\\') || at_eof {
            break;
        }
        value.push('\n');
        if next >= text.len() {
            break;
        }
    }
    let value = if value.ends_with('\n') {
        format!("{}\n", value.trim())
    } else {
        value.trim().to_string()
    };
    (value, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_and_options() {
        let opts = parse("junk\n[Unit]\nDescription = hi \n# c\\\n still comment\n[Install]\nWantedBy=multi-user.target\nExec=a \\\n b\n").unwrap();
        let got: Vec<_> = opts
            .iter()
            .map(|o| (o.section.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Unit", "Description"),
                ("Install", "WantedBy"),
                ("Install", "Exec")
            ]
        );
        assert_eq!(opts[0].value, "hi");
        assert_eq!(opts[2].value, "a \\\n b");
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(parse("[Unit").unwrap_err(), "unable to find end of section");
        assert!(parse("[Unit] x\n").unwrap_err().contains("garbage"));
        assert!(parse("[Unit]\nNoEquals\nA=b\n")
            .unwrap_err()
            .contains("unexpected newline"));
        assert_eq!(parse("[Unit]\nNoEquals").unwrap_err(), "EOF");
        let long = format!("[Unit]\nA={}\n", "x".repeat(3000));
        assert!(parse(&long).unwrap_err().contains("line too long"));
        assert!(parse("").unwrap().is_empty());
    }
}
