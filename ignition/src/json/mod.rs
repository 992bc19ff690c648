//! JSON text to a position-aware tree, and typed decoding from that tree.

pub mod decode;
pub mod parse;
pub mod tree;

pub use parse::{parse, SyntaxError};
pub use tree::{LineIndex, Member, Node, Number, Value};
