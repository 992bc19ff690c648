//! `data:` URLs (RFC 2397), decoded as strictly as Go Ignition decodes them:
//! the media type, if given, is `type/subtype` with a known top-level type or
//! an `x-` token; parameters are `attr=value` tokens or quoted strings; the
//! data is base64 (standard alphabet, padded) or percent-encoded ASCII URL
//! characters.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// `type/subtype`; `text/plain` when the URL gives none.
    pub media_type: String,
    pub params: Vec<(String, String)>,
    pub data: Vec<u8>,
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

fn is_tspecial(c: u8) -> bool {
    b"()<>@,;:\\\"/[]?=".contains(&c)
}

fn is_token(c: u8) -> bool {
    c.is_ascii() && !c.is_ascii_control() && c != b' ' && !is_tspecial(c)
}

fn is_url_char(c: u8) -> bool {
    c.is_ascii() && c > 0x1f && c != 0x7f && !b" <>#\"{}|\\^[]`".contains(&c)
}

fn is_base64_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+/=\n".contains(&c)
}

/// Decodes a `data:` URL; the error says what is wrong with it.
pub fn decode(url: &str) -> Result<DataUrl, String> {
    let rest = url.strip_prefix("data:").ok_or("missing data prefix")?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut media_type = "text/plain".to_string();
    let mut params = Vec::new();
    let mut base64 = false;

    // Media type.
    if i < b.len() && b[i] != b';' && b[i] != b',' {
        if !is_token(b[i]) {
            return Err("invalid character after data prefix".into());
        }
        let start = i;
        while i < b.len() && b[i] != b'/' {
            if !is_token(b[i]) {
                return Err("invalid character for media type".into());
            }
            i += 1;
        }
        if i == b.len() {
            return Err("missing media type slash".into());
        }
        let top = &rest[start..i];
        let x_token = top.len() > 1 && top[..2].eq_ignore_ascii_case("x-");
        let known = [
            "text",
            "image",
            "audio",
            "video",
            "application",
            "message",
            "multipart",
        ];
        if !x_token && !known.iter().any(|k| top.starts_with(k)) {
            return Err("invalid media type".into());
        }
        i += 1;
        let sub_start = i;
        while i < b.len() && b[i] != b';' && b[i] != b',' {
            if !is_token(b[i]) {
                return Err("invalid character for media subtype".into());
            }
            i += 1;
        }
        if i == b.len() {
            return Err("incomplete media type".into());
        }
        media_type = format!("{top}/{}", &rest[sub_start..i]);
    } else if i == b.len() {
        return Err("missing comma before data".into());
    }

    // Parameters, and the base64 marker.
    while i < b.len() && b[i] == b';' {
        i += 1;
        if i == b.len() || b[i] == b'=' || b[i] == b',' {
            return Err("unterminated parameter sequence".into());
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            if !is_token(b[i]) {
                return Err("invalid character for parameter attribute".into());
            }
            i += 1;
        }
        if i == b.len() {
            return Err("unterminated parameter sequence".into());
        }
        let attr = &rest[start..i];
        if b[i] == b',' {
            if attr != "base64" {
                return Err(format!("expected base64, got {attr}"));
            }
            base64 = true;
            break;
        }
        i += 1; // '='
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut value = String::new();
            loop {
                match b.get(i) {
                    None => return Err("unclosed quoted string".into()),
                    Some(b'"') => break,
                    Some(b'\\') => {
                        match b.get(i + 1) {
                            None => return Err("unexpected eof".into()),
                            Some(c) if c.is_ascii() => value.push(*c as char),
                            Some(_) => return Err("invalid escaped character".into()),
                        }
                        i += 2;
                    }
                    Some(c) if c.is_ascii() => {
                        value.push(*c as char);
                        i += 1;
                    }
                    Some(_) => return Err("invalid character for parameter value".into()),
                }
            }
            i += 1;
            value
        } else {
            let start = i;
            if i == b.len() {
                return Err("missing comma before data".into());
            }
            while i < b.len() && b[i] != b';' && b[i] != b',' {
                if !is_token(b[i]) {
                    return Err("invalid character for parameter value".into());
                }
                i += 1;
            }
            String::from_utf8(percent_decode(&rest[start..i])?).map_err(|e| e.to_string())?
        };
        match b.get(i) {
            None => return Err("missing comma before data".into()),
            Some(b';' | b',') => {}
            Some(_) => return Err("expected semicolon or comma".into()),
        }
        params.push((attr.to_string(), value));
    }
    if b.get(i) != Some(&b',') {
        return Err("missing comma before data".into());
    }
    let payload = &rest[i + 1..];
    let data = if base64 {
        if !payload.bytes().all(is_base64_char) {
            return Err("invalid data character".into());
        }
        let clean: Vec<u8> = payload.bytes().filter(|c| *c != b'\n').collect();
        BASE64
            .decode(clean)
            .map_err(|e| format!("illegal base64 data: {e}"))?
    } else {
        if !payload.bytes().all(is_url_char) {
            return Err("invalid data character".into());
        }
        percent_decode(payload)?
    };
    Ok(DataUrl {
        media_type,
        params,
        data,
    })
}

/// `%XX` escapes to bytes; everything else as it is.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or("unexpected end of unescape sequence")?;
            let digits = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match digits {
                Some(v) if hex.iter().all(u8::is_ascii_hexdigit) => out.push(v),
                _ => return Err("invalid character in unescape sequence".into()),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_valid_urls() {
        let d = decode("data:,hello%20world").unwrap();
        assert_eq!(
            (d.media_type.as_str(), d.data.as_slice()),
            ("text/plain", &b"hello world"[..])
        );
        let d = decode("data:text/plain;charset=utf-8;base64,aGk=").unwrap();
        assert_eq!(d.data, b"hi");
        assert_eq!(d.params, vec![("charset".to_string(), "utf-8".to_string())]);
        assert_eq!(decode("data:;base64,aGk=\n").unwrap().data, b"hi");
        assert_eq!(decode("data:application/x-foo,").unwrap().data, b"");
        assert_eq!(
            decode("data:x-custom/thing;a=\"q\\\"x\",y").unwrap().params[0].1,
            "q\"x"
        );
    }

    #[test]
    fn rejects_malformed_urls() {
        for (url, why) in [
            ("http:,x", "missing data prefix"),
            ("data:x", "missing media type slash"),
            ("data:foo/bar,x", "invalid media type"),
            ("data:text/plain", "incomplete media type"),
            ("data:", "missing comma before data"),
            ("data:;base64,aGk", "illegal base64"),
            ("data:;base64,a!Gk", "invalid data character"),
            ("data:,a b", "invalid data character"),
            ("data:,%zz", "unescape"),
            ("data:,%2", "unescape"),
            ("data:;foo,x", "expected base64, got foo"),
            ("data:;=,x", "unterminated parameter"),
            ("data:text/plain;a=\"x,y", "unclosed quoted string"),
        ] {
            let err = decode(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
