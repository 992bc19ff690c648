//! What each 3.x minor can express: fields by the version that added them
//! (as in [`crate::version::Spec3Fields`]) and values by the version that
//! first accepted them (as in [`crate::validate`]).

use super::{DownError, Problem};
use crate::jpath;
use crate::model::{Cex, Config, Resource};
use crate::path::JsonPath;
use crate::version::SpecVersion;

/// The version from which setuid/setgid/sticky bits take effect; before it
/// Ignition ignores them (Go Ignition's `ErrModeSpecialBits`; ign-converter's
/// 3.4 → 3.3 still says 3.4, but Ignition moved support to 3.6.0).
const SPECIAL_MODE_BITS: u8 = 6;

/// Clevis pins every 3.x version with LUKS accepts; others need 3.6.0.
const CLASSIC_PINS: [&str; 3] = ["tpm2", "tang", "sss"];

struct Checker {
    /// The 3.x rules that apply (3.0 for a 2.2 target).
    rules: SpecVersion,
    /// The version reported in problems.
    target: SpecVersion,
    problems: Vec<Problem>,
}

impl Checker {
    /// Records a problem unless the rules are at least 3.`minor`.
    fn need(&mut self, at: JsonPath, what: &str, minor: u8) {
        if !self.rules.since(minor) {
            self.problem(at, format!("{what} needs 3.{minor}.0"));
        }
    }

    fn problem(&mut self, path: JsonPath, detail: String) {
        self.problems.push(Problem {
            path,
            target: self.target,
            detail,
        });
    }

    /// Option fields the target lacks: `noop` is dropped, anything else is a
    /// problem.
    fn optional<T: PartialEq>(
        &mut self,
        v: &mut Option<T>,
        noop: T,
        at: JsonPath,
        what: &str,
        minor: u8,
    ) {
        if self.rules.since(minor) {
            return;
        }
        match v {
            Some(x) if *x == noop => *v = None,
            Some(_) => self.need(at, what, minor),
            None => {}
        }
    }
}

/// A copy of `config` without the no-op settings of fields that `rules`
/// lacks, or every problem. Problems found by field are reported first; if
/// there are none, the copy must pass the validation rules of `rules`.
pub fn normalize(
    config: &Config,
    rules: SpecVersion,
    target: SpecVersion,
) -> Result<Config, DownError> {
    let mut c = config.clone();
    let mut ck = Checker {
        rules,
        target,
        problems: Vec::new(),
    };
    fields(&mut c, &mut ck);
    if ck.problems.is_empty() {
        for f in crate::validate::validate(&c, rules).errors() {
            ck.problem(f.path.clone(), f.message.clone());
        }
    }
    if ck.problems.is_empty() {
        Ok(c)
    } else {
        Err(DownError::NotExpressible(ck.problems))
    }
}

fn fields(c: &mut Config, ck: &mut Checker) {
    resources(c, ck);
    if !c.ignition.proxy.is_empty() {
        ck.need(jpath!["ignition", "proxy"], "proxy", 1);
    }
    if !c.kernel_arguments.is_empty() {
        ck.need(jpath!["kernelArguments"], "kernelArguments", 3);
    }
    for (i, u) in c.passwd.users.iter_mut().enumerate() {
        let at = jpath!["passwd", "users", i, "shouldExist"];
        ck.optional(&mut u.should_exist, true, at, "shouldExist", 2);
    }
    for (i, g) in c.passwd.groups.iter_mut().enumerate() {
        let at = jpath!["passwd", "groups", i, "shouldExist"];
        ck.optional(&mut g.should_exist, true, at, "shouldExist", 2);
    }
    let s = &mut c.storage;
    for (i, d) in s.disks.iter_mut().enumerate() {
        for (j, p) in d.partitions.iter_mut().enumerate() {
            let at = jpath!["storage", "disks", i, "partitions", j, "resize"];
            ck.optional(&mut p.resize, false, at, "resize", 2);
        }
    }
    for (i, f) in s.filesystems.iter_mut().enumerate() {
        let at = jpath!["storage", "filesystems", i];
        if !f.mount_options.is_empty() {
            ck.need(at.key("mountOptions"), "mountOptions", 1);
        }
        if f.format.as_deref() == Some("none") {
            ck.need(at.key("format"), "filesystem format none", 3);
        }
    }
    let special = |m: Option<i64>| m.is_some_and(|m| m & 0o7000 != 0);
    let bits = "setuid/setgid/sticky mode bits";
    for (i, f) in s.files.iter().enumerate() {
        if special(f.mode) {
            ck.need(
                jpath!["storage", "files", i, "mode"],
                bits,
                SPECIAL_MODE_BITS,
            );
        }
    }
    for (i, d) in s.directories.iter().enumerate() {
        if special(d.mode) {
            ck.need(
                jpath!["storage", "directories", i, "mode"],
                bits,
                SPECIAL_MODE_BITS,
            );
        }
    }
    if !s.luks.is_empty() && !ck.rules.since(2) {
        ck.need(jpath!["storage", "luks"], "luks", 2);
        return;
    }
    for (i, l) in s.luks.iter_mut().enumerate() {
        let at = jpath!["storage", "luks", i];
        ck.optional(&mut l.discard, false, at.key("discard"), "luks discard", 4);
        if !l.open_options.is_empty() {
            ck.need(at.key("openOptions"), "luks openOptions", 4);
        }
        for (j, t) in l.clevis.tang.iter_mut().enumerate() {
            let t_at = at.key("clevis").key("tang").index(j).key("advertisement");
            ck.optional(
                &mut t.advertisement,
                String::new(),
                t_at,
                "tang advertisement",
                4,
            );
        }
        ck.optional(&mut l.cex.enabled, false, at.key("cex"), "cex", 5);
        if l.cex.enabled.is_none() {
            l.cex = Cex::default();
        }
        let pin = l.clevis.custom.pin.as_deref().unwrap_or("");
        if !pin.is_empty() && !CLASSIC_PINS.contains(&pin) {
            let what = format!("custom clevis pin {pin:?}");
            ck.need(at.key("clevis").key("custom").key("pin"), &what, 6);
        }
    }
}

/// Every resource: headers, compression of config references and CAs,
/// hash functions and URL schemes.
fn resources(c: &mut Config, ck: &mut Checker) {
    let ign = &mut c.ignition;
    let mut refs: Vec<(JsonPath, &mut Resource)> = Vec::new();
    for (i, r) in ign.config.merge.iter_mut().enumerate() {
        refs.push((jpath!["ignition", "config", "merge", i], r));
    }
    refs.push((
        jpath!["ignition", "config", "replace"],
        &mut ign.config.replace,
    ));
    for (i, r) in ign
        .security
        .tls
        .certificate_authorities
        .iter_mut()
        .enumerate()
    {
        let at = jpath!["ignition", "security", "tls", "certificateAuthorities", i];
        refs.push((at, r));
    }
    for (at, r) in refs {
        let what = "compression of merged configs and CAs";
        ck.optional(
            &mut r.compression,
            String::new(),
            at.key("compression"),
            what,
            1,
        );
        resource(r, &at, ck);
    }
    for (i, f) in c.storage.files.iter().enumerate() {
        let at = jpath!["storage", "files", i];
        resource(&f.contents, &at.key("contents"), ck);
        for (j, a) in f.append.iter().enumerate() {
            resource(a, &at.key("append").index(j), ck);
        }
    }
    for (i, l) in c.storage.luks.iter().enumerate() {
        resource(&l.key_file, &jpath!["storage", "luks", i, "keyFile"], ck);
    }
}

fn resource(r: &Resource, at: &JsonPath, ck: &mut Checker) {
    if !r.http_headers.is_empty() {
        ck.need(at.key("httpHeaders"), "httpHeaders", 1);
    }
    if r.verification
        .hash
        .as_deref()
        .is_some_and(|h| h.starts_with("sha256-"))
    {
        let hash_at = at.key("verification").key("hash");
        ck.need(hash_at, "sha256 hashes", 1);
    }
    let scheme = r
        .source
        .as_deref()
        .and_then(|s| crate::url::parse(s).ok())
        .map(|u| u.scheme);
    match scheme.as_deref() {
        Some("gs") => ck.need(at.key("source"), "gs:// URLs", 2),
        Some("arn") => ck.need(at.key("source"), "arn: URLs", 4),
        _ => {}
    }
}
