//! JSON paths as Ignition prints them: `$.storage.files.0.path`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonPath(pub Vec<Seg>);

impl JsonPath {
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }

    pub fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    pub fn pop(&mut self) -> Option<Seg> {
        self.0.pop()
    }

    /// A new path with one more key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    /// A new path with one more index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

/// Builds a path from keys and indices: `jpath!["storage", "files", 0, "path"]`.
#[macro_export]
macro_rules! jpath {
    ($($seg:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut p = $crate::path::JsonPath::root();
        $( p.push($crate::path::IntoSeg::into_seg($seg)); )*
        p
    }};
}

pub trait IntoSeg {
    fn into_seg(self) -> Seg;
}

impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_string())
    }
}

impl IntoSeg for usize {
    fn into_seg(self) -> Seg {
        Seg::Index(self)
    }
}

impl IntoSeg for Seg {
    fn into_seg(self) -> Seg {
        self
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, ".{i}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn displays_like_ignition() {
        assert_eq!(jpath![].to_string(), "$");
        assert_eq!(
            jpath!["storage", "files", 0usize, "path"].to_string(),
            "$.storage.files.0.path"
        );
    }
}
