//! Path rules: absolute and fully simplified, as Go's `path.Clean` leaves it.

/// Why a path is refused, in Go Ignition's words.
pub fn check(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("path not specified");
    }
    if !p.starts_with('/') {
        return Err("path not absolute");
    }
    if !is_clean_absolute(p) {
        return Err("path is not fully simplified");
    }
    Ok(())
}

/// True for `/` and for absolute paths without empty, `.` or `..` segments
/// and without a trailing slash.
pub fn is_clean_absolute(p: &str) -> bool {
    p == "/" || (p.starts_with('/') && p[1..].split('/').all(|seg| !matches!(seg, "" | "." | "..")))
}

/// Go's `path.Clean` for absolute paths: the lexically simplest equivalent.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        assert_eq!(check("/etc/hosts"), Ok(()));
        assert_eq!(check("/"), Ok(()));
        assert_eq!(check(""), Err("path not specified"));
        assert_eq!(check("etc"), Err("path not absolute"));
        for dirty in ["/etc/", "//etc", "/etc/./x", "/etc/../x", "/..", "/."] {
            assert_eq!(check(dirty), Err("path is not fully simplified"), "{dirty}");
        }
        assert_eq!(clean("/a/b/../c/./d/"), "/a/c/d");
        assert_eq!(clean("/../.."), "/");
    }
}
