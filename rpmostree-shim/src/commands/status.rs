//! `status [--json] [--booted]`.

use anyhow::Result;

use super::{Globals, Outcome};
use crate::inspect;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals, json: bool, booted: bool) -> Result<Outcome> {
    let sys = Sys::open(&g.sysroot, Access::Read)?;
    let mut st = inspect::status(&sys);
    if booted {
        if !sys.is_booted() {
            eprintln!(
                "note: sysroot {} is not the booted system; no deployment is booted",
                sys.path.display()
            );
        }
        st = st.only_booted();
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        print!("{}", st.render_text());
    }
    Ok(Outcome::Unchanged)
}
