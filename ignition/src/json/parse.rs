//! A strict JSON parser (RFC 8259) that builds a [`Node`] tree with offsets.
//!
//! Errors say what was found, where (byte offset) and inside which value (a
//! JSON path), so a syntax error in a large config can be found quickly.

use super::tree::{Member, Node, Number, Value};
use crate::path::{JsonPath, Seg};

/// Deeper nesting than this is refused; no Ignition config comes close.
pub const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub offset: u32,
    /// The value being parsed when the error was found.
    pub path: JsonPath,
}

pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        path: JsonPath::root(),
    };
    p.skip_ws();
    let node = p.value(0)?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(p.err(format!(
            "invalid character {} after top-level value",
            p.describe()
        )));
    }
    Ok(node)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    path: JsonPath,
}

impl Parser<'_> {
    fn err(&self, message: String) -> SyntaxError {
        SyntaxError {
            message,
            offset: self.i as u32,
            path: self.path.clone(),
        }
    }

    fn eof(&self) -> SyntaxError {
        self.err("unexpected end of JSON input".to_string())
    }

    /// The character at the cursor, quoted for an error message.
    fn describe(&self) -> String {
        let rest = std::str::from_utf8(&self.s[self.i..]).unwrap_or("");
        match rest.chars().next() {
            Some(c) if c.is_control() => format!("{c:?}"),
            Some(c) => format!("'{c}'"),
            None => "end of input".to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("exceeded max nesting depth of {MAX_DEPTH}")));
        }
        let start = self.i as u32;
        let value = match self.peek() {
            None => return Err(self.eof()),
            Some(b'{') => return self.object(depth),
            Some(b'[') => return self.array(depth),
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(_) => {
                return Err(self.err(format!(
                    "invalid character {} looking for beginning of value",
                    self.describe()
                )))
            }
        };
        Ok(Node {
            offset: start,
            value,
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        for expected in word.bytes() {
            match self.peek() {
                None => return Err(self.eof()),
                Some(b) if b == expected => self.i += 1,
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} in literal {word} (expecting '{}')",
                        self.describe(),
                        expected as char
                    )))
                }
            }
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.i;
        let digits = |p: &mut Self| -> Result<(), SyntaxError> {
            match p.peek() {
                Some(b'0'..=b'9') => {}
                None => return Err(p.eof()),
                Some(_) => {
                    return Err(p.err(format!(
                        "invalid character {} in numeric literal",
                        p.describe()
                    )))
                }
            }
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            Ok(())
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            digits(self)?;
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            digits(self)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            digits(self)?;
        }
        // The scanned bytes are ASCII digits, signs, dots and exponents.
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        Ok(match (integral, text.parse::<i64>()) {
            (true, Ok(n)) => Number::Int(n),
            _ => Number::Other(text),
        })
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str and we only stop at ASCII bytes, so the run is UTF-8.
            out.push_str(std::str::from_utf8(&self.s[run_start..self.i]).unwrap_or_default());
            match self.peek() {
                None => return Err(self.eof()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} in string literal",
                        self.describe()
                    )))
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let c = match self.peek() {
            None => return Err(self.eof()),
            Some(c) => c,
        };
        self.i += 1;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = self.hex4()?;
                let ch = if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate needs a low one right after it.
                    if self.s[self.i..].starts_with(b"\\u") {
                        let save = self.i;
                        self.i += 2;
                        let second = self.hex4()?;
                        if (0xDC00..0xE000).contains(&second) {
                            char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
                        } else {
                            self.i = save;
                            None
                        }
                    } else {
                        None
                    }
                } else {
                    char::from_u32(first)
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            _ => {
                self.i -= 1;
                return Err(self.err(format!(
                    "invalid character {} in string escape code",
                    self.describe()
                )));
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                None => return Err(self.eof()),
                Some(b) => (b as char).to_digit(16),
            };
            match d {
                Some(d) => v = v * 16 + d,
                None => {
                    return Err(self.err(format!(
                        "invalid character {} in \\u hexadecimal character escape",
                        self.describe()
                    )))
                }
            }
            self.i += 1;
        }
        Ok(v)
    }

    fn array(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        self.i += 1;
        let offset = self.i as u32;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Node {
                offset,
                value: Value::Array(items),
            });
        }
        loop {
            self.path.push(Seg::Index(items.len()));
            let item = self.value(depth + 1);
            self.path.pop();
            items.push(item?);
            self.skip_ws();
            match self.peek() {
                None => return Err(self.eof()),
                Some(b',') => {
                    self.i += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(Node {
                        offset,
                        value: Value::Array(items),
                    });
                }
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} after array element",
                        self.describe()
                    )))
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        self.i += 1;
        let offset = self.i as u32;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Node {
                offset,
                value: Value::Object(members),
            });
        }
        loop {
            match self.peek() {
                None => return Err(self.eof()),
                Some(b'"') => {}
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} looking for beginning of object key string",
                        self.describe()
                    )))
                }
            }
            let key_offset = self.i as u32;
            let key = self.string()?;
            self.skip_ws();
            match self.peek() {
                None => return Err(self.eof()),
                Some(b':') => self.i += 1,
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} after object key",
                        self.describe()
                    )))
                }
            }
            self.skip_ws();
            self.path.push(Seg::Key(key));
            let value = self.value(depth + 1);
            let Some(Seg::Key(key)) = self.path.pop() else {
                unreachable!("the key pushed above")
            };
            members.push(Member {
                key,
                key_offset,
                value: value?,
            });
            self.skip_ws();
            match self.peek() {
                None => return Err(self.eof()),
                Some(b',') => {
                    self.i += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Node {
                        offset,
                        value: Value::Object(members),
                    });
                }
                Some(_) => {
                    return Err(self.err(format!(
                        "invalid character {} after object key:value pair",
                        self.describe()
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> SyntaxError {
        parse(text).unwrap_err()
    }

    #[test]
    fn parses_values_with_offsets() {
        let n = parse(r#" {"a": [1, -2.5, "x\u00e9\n", true, null], "b": {}}"#).unwrap();
        assert_eq!(n.offset, 2);
        let a = &n.member("a").unwrap().value;
        assert_eq!(a.offset, 8);
        assert_eq!(a.element(0).unwrap().value, Value::Number(Number::Int(1)));
        assert_eq!(
            a.element(1).unwrap().value,
            Value::Number(Number::Other("-2.5".into()))
        );
        assert_eq!(a.element(2).unwrap().value, Value::String("xé\n".into()));
        assert_eq!(a.element(2).unwrap().offset, 17);
        assert_eq!(n.member("b").unwrap().key_offset, 43);
    }

    #[test]
    fn surrogate_pairs_and_lone_surrogates() {
        let n = parse(r#"["\ud83d\ude00", "\ud800x"]"#).unwrap();
        assert_eq!(n.element(0).unwrap().value, Value::String("😀".into()));
        assert_eq!(
            n.element(1).unwrap().value,
            Value::String("\u{FFFD}x".into())
        );
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = err(r#"{"a": {"b": [1, }]}}"#);
        assert_eq!(e.offset, 16);
        assert_eq!(e.path.to_string(), "$.a.b.1");
        assert!(
            e.message.contains("looking for beginning of value"),
            "{}",
            e.message
        );
        assert_eq!(
            err("{} x").message,
            "invalid character 'x' after top-level value"
        );
        assert_eq!(err("").message, "unexpected end of JSON input");
        assert_eq!(
            err(r#"{"a" 1}"#).message,
            "invalid character '1' after object key"
        );
        assert!(err("[01]").message.contains("after array element"));
        assert!(err("\"a\tb\"").message.contains("in string literal"));
        assert!(err(r#""\x""#).message.contains("escape code"));
        assert!(err("[1.]").message.contains("numeric literal"));
        assert!(err("[tru]").message.contains("literal true"));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(err(&deep).message.contains("max nesting depth"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
    }
}
