//! Pure planning of deployment order for `rollback` and `cleanup`: a list of indices into the
//! current deployment list, which the caller then writes with libostree.

use thiserror::Error;

/// What planning needs to know about one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub osname: String,
    pub booted: bool,
    pub staged: bool,
    pub pinned: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OrderError {
    #[error("no rollback deployment found for stateroot {0:?}")]
    NoRollback(String),
}

/// The roles of the deployments of one stateroot. On a booted system "current" is the booted
/// deployment; on a sysroot that is not booted it is the first (default) deployment.
/// "pending" is a deployment ordered before current, "rollback" the first one after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    pub current: Option<usize>,
    pub pending: Option<usize>,
    pub rollback: Option<usize>,
}

pub fn roles(entries: &[Entry], osname: &str) -> Roles {
    let mine: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].osname == osname)
        .collect();
    let booted = entries.iter().position(|e| e.booted);
    let current = match booted {
        Some(b) if entries[b].osname == osname => Some(b),
        Some(_) => None,
        None => mine.first().copied(),
    };
    let mut r = Roles {
        current,
        ..Roles::default()
    };
    match current {
        Some(c) => {
            r.pending = mine.iter().copied().find(|&i| i < c);
            r.rollback = mine.iter().copied().find(|&i| i > c);
        }
        // Booted into another stateroot: our first deployment is pending, the next the rollback.
        None => {
            r.pending = mine.first().copied();
            r.rollback = mine.get(1).copied();
        }
    }
    r
}

/// `rollback`: the rollback deployment goes first. When there is no rollback but a pending
/// deployment, the current one goes back on top (undoing the update). Staged deployments are
/// dropped: a rollback cancels a pending update.
pub fn plan_rollback(entries: &[Entry], osname: &str) -> Result<Vec<usize>, OrderError> {
    let r = roles(entries, osname);
    let first = match (r.rollback, r.pending, r.current) {
        (Some(rb), _, _) => rb,
        (None, Some(_), Some(cur)) => cur,
        _ => return Err(OrderError::NoRollback(osname.to_string())),
    };
    let mut out = vec![first];
    out.extend((0..entries.len()).filter(|&i| i != first && !entries[i].staged));
    Ok(out)
}

/// `cleanup -p/-r`: the deployments to keep, and the ones kept only because they are pinned.
pub fn plan_cleanup(
    entries: &[Entry],
    osname: &str,
    pending: bool,
    rollback: bool,
) -> (Vec<usize>, Vec<usize>) {
    let r = roles(entries, osname);
    let mut drop = Vec::new();
    if pending {
        drop.extend(r.pending);
        drop.extend((0..entries.len()).filter(|&i| entries[i].staged));
    }
    if rollback {
        drop.extend(r.rollback);
    }
    let pinned: Vec<usize> = drop
        .iter()
        .copied()
        .filter(|&i| entries[i].pinned)
        .collect();
    let keep = (0..entries.len())
        .filter(|i| !drop.contains(i) || pinned.contains(i))
        .collect();
    (keep, pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(os: &str, flags: &str) -> Entry {
        Entry {
            osname: os.into(),
            booted: flags.contains('b'),
            staged: flags.contains('s'),
            pinned: flags.contains('p'),
        }
    }

    #[test]
    fn rollback_table() {
        // (entries, expected order or None for error)
        let cases: Vec<(Vec<Entry>, Option<Vec<usize>>)> = vec![
            // not booted: first is current, second rollback
            (vec![e("a", ""), e("a", "")], Some(vec![1, 0])),
            (
                vec![e("a", ""), e("a", ""), e("a", "")],
                Some(vec![1, 0, 2]),
            ),
            (vec![e("a", "")], None),
            // booted with rollback
            (vec![e("a", "b"), e("a", "")], Some(vec![1, 0])),
            // pending (staged) + booted + rollback: rollback on top, staged dropped
            (vec![e("a", "s"), e("a", "b"), e("a", "")], Some(vec![2, 1])),
            // pending + booted, no rollback: booted back on top
            (vec![e("a", ""), e("a", "b")], Some(vec![1, 0])),
            // other stateroot kept in place after
            (
                vec![e("a", ""), e("b", ""), e("a", "")],
                Some(vec![2, 0, 1]),
            ),
        ];
        for (entries, want) in cases {
            assert_eq!(plan_rollback(&entries, "a").ok(), want, "{entries:?}");
        }
    }

    #[test]
    fn cleanup_table() {
        let ents = vec![e("a", "s"), e("a", "b"), e("a", ""), e("a", "")];
        assert_eq!(
            plan_cleanup(&ents, "a", true, false),
            (vec![1, 2, 3], vec![])
        );
        assert_eq!(
            plan_cleanup(&ents, "a", false, true),
            (vec![0, 1, 3], vec![])
        );
        assert_eq!(plan_cleanup(&ents, "a", true, true), (vec![1, 3], vec![]));
        let unbooted = vec![e("a", ""), e("a", "p"), e("a", "")];
        assert_eq!(
            plan_cleanup(&unbooted, "a", false, true),
            (vec![0, 1, 2], vec![1])
        );
        assert_eq!(
            plan_cleanup(&unbooted, "a", true, false),
            (vec![0, 1, 2], vec![])
        );
    }
}
