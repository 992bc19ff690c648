//! `rollback`: put the rollback deployment first again.

use anyhow::{Context, Result};

use super::{Globals, Outcome};
use crate::inspect;
use crate::order;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals) -> Result<Outcome> {
    let sys = Sys::open(&g.sysroot, Access::Write)?;
    let _lock = sys.lock()?;
    let os = sys.osname(g.os.as_deref())?;
    let (deps, entries) = inspect::entries(&sys);
    let plan = order::plan_rollback(&entries, &os)
        .with_context(|| format!("rollback in sysroot {}", sys.path.display()))?;
    let first = &deps[plan[0]];
    println!(
        "Moving '{}.{}' to be first deployment",
        first.csum(),
        first.deployserial()
    );
    sys.write_order(&deps, &plan, "the new boot order")?;
    Ok(Outcome::Changed)
}
