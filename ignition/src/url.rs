//! The parts of URL parsing that Ignition's rules need: whether a string
//! parses as a URL (with the same strictness as Go's `net/url`), its scheme,
//! and its query parameters.

/// A parsed URL reference: only what validation and fetching look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url<'a> {
    /// Lower-cased; empty for a relative reference.
    pub scheme: String,
    /// Everything after `scheme:` up to `?` or `#`.
    pub rest: &'a str,
    pub query: Option<&'a str>,
}

/// Parses like Go's `url.Parse`: control characters, a missing scheme before
/// a colon, bad percent escapes, bad IPv6 brackets and non-numeric ports are
/// errors.
pub fn parse(s: &str) -> Result<Url<'_>, String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (without_fragment, fragment) = match s.find('#') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(f) = fragment {
        check_escapes(f)?;
    }
    let (scheme, rest) = split_scheme(without_fragment)?;
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !rest.starts_with('/') {
        if scheme.is_empty() {
            let first = rest.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err("first path segment in URL cannot contain colon".into());
            }
            check_escapes(rest)?;
        }
        // Otherwise opaque (`data:...`, `s3:x`): not checked further.
        return Ok(Url {
            scheme,
            rest,
            query,
        });
    }
    let path = if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        check_authority(&after[..end])?;
        &after[end..]
    } else {
        rest
    };
    check_escapes(path)?;
    Ok(Url {
        scheme,
        rest,
        query,
    })
}

fn split_scheme(s: &str) -> Result<(String, &str), String> {
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((s[..i].to_ascii_lowercase(), &s[i + 1..])),
            _ => break,
        }
    }
    Ok((String::new(), s))
}

fn check_authority(authority: &str) -> Result<(), String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            let ok = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
            if !userinfo.chars().all(ok) {
                return Err("invalid userinfo".into());
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    let port = if let Some(inner) = host.strip_prefix('[') {
        let close = inner.find(']').ok_or("missing ']' in host")?;
        let after = &inner[close + 1..];
        if !after.is_empty() && !after.starts_with(':') {
            return Err(format!("invalid port {after:?} after host"));
        }
        after.strip_prefix(':')
    } else {
        host.rfind(':').map(|i| &host[i + 1..])
    };
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid port {:?} after host", format!(":{port}")));
        }
    }
    // Go refuses hosts with characters that would need escaping there.
    let host_ok = |c: char| {
        !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(c)
    };
    if let Some(bad) = host.chars().find(|c| !host_ok(*c)) {
        return Err(format!("invalid character {bad:?} in host name"));
    }
    check_escapes(host)
}

/// Percent escapes must be `%` and two hex digits.
fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(&b[i..end])
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The values of a query parameter, percent-decoded (`+` is a space); pairs
/// whose escapes are bad are skipped, as Go's `Query()` does.
pub fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape_query(k)?, unescape_query(v)?))
        })
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn unescape_query(s: &str) -> Option<String> {
    check_escapes(s).ok()?;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(parse("HTTPS://example.com/a?b=c").unwrap().scheme, "https");
        assert_eq!(parse("data:,x").unwrap().scheme, "data");
        assert_eq!(parse("/just/a/path").unwrap().scheme, "");
        assert!(
            parse("1http://x").is_err(),
            "a scheme cannot start with a digit"
        );
        let u = parse("s3://bucket/key?versionId=abc").unwrap();
        assert_eq!(query_values(u.query.unwrap(), "versionId"), vec!["abc"]);
        assert_eq!(query_values("versionId", "versionId"), vec![""]);
        assert_eq!(
            query_values("a=1&versionId=x%20y", "versionId"),
            vec!["x y"]
        );
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "://x",
            "http://x/%zz",
            "http://[::1/",
            "http://host:port/",
            "a:b/c".trim_start_matches('a'),
            "http://x/\u{7f}",
            "rel:ative/..".trim_start_matches("rel"),
            "http://us er@x/",
            "http://a b/",
            "https://exa{mple.com/x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("http://[::1]:8080/x").is_ok());
        assert!(
            parse("http://x/a b").is_ok(),
            "spaces in paths are accepted"
        );
        assert!(parse("foo:bar/%zz").is_ok(), "opaque parts are not checked");
    }
}
