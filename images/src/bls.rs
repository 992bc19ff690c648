//! BLS entries (`/boot/loader/entries/*.conf`) and kernel argument edits: pure.

/// The value of `key` in a BLS entry.
pub fn field<'a>(entry: &'a str, key: &str) -> Option<&'a str> {
    entry.lines().find_map(|l| {
        let l = l.trim();
        let (k, v) = l.split_once(char::is_whitespace)?;
        (k == key).then(|| v.trim())
    })
}

/// The kernel arguments of an entry, split as the kernel does (quotes keep spaces).
pub fn options(entry: &str) -> Vec<String> {
    split_kargs(field(entry, "options").unwrap_or(""))
}

/// Splits a command line into arguments as the kernel does (`a="b c"` stays one argument): the
/// executor's splitter, shared with mcd.
pub fn split_kargs(line: &str) -> Vec<String> {
    ignition::exec::kargs::split_args(line)
}

/// The first-boot arguments of an entry without `ostree=` (what build.json records).
pub fn without_ostree(kargs: &[String]) -> Vec<String> {
    kargs
        .iter()
        .filter(|k| !k.starts_with("ostree="))
        .cloned()
        .collect()
}

/// What `firstboot-done` (the image's script) sets after the first boot: the entry's arguments
/// without `ostree=` (ostree adds it back) and without `ignition.firstboot`.
pub fn after_firstboot(kargs: &[String]) -> Vec<String> {
    kargs
        .iter()
        .filter(|k| {
            !k.starts_with("ostree=")
                && *k != "ignition.firstboot"
                && !k.starts_with("ignition.firstboot=")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "title mooring-1.0 (ostree:0)\nversion 1\noptions root=LABEL=root rw console=ttyS0,115200 ignition.firstboot ignition.platform.id=qemu ostree=/ostree/boot.1/mooring/abc/0\nlinux /ostree/mooring-abc/vmlinuz-6.1.0\ninitrd /ostree/mooring-abc/initramfs-6.1.0.img\n";

    #[test]
    fn reads_fields_and_options() {
        assert_eq!(
            field(ENTRY, "linux"),
            Some("/ostree/mooring-abc/vmlinuz-6.1.0")
        );
        assert_eq!(field(ENTRY, "title"), Some("mooring-1.0 (ostree:0)"));
        let o = options(ENTRY);
        assert_eq!(o.len(), 6);
        assert_eq!(o[5], "ostree=/ostree/boot.1/mooring/abc/0");
        assert_eq!(
            without_ostree(&o),
            [
                "root=LABEL=root",
                "rw",
                "console=ttyS0,115200",
                "ignition.firstboot",
                "ignition.platform.id=qemu"
            ]
        );
    }

    #[test]
    fn firstboot_edit_drops_only_ignition_firstboot_and_ostree() {
        let o = options(ENTRY);
        assert_eq!(
            after_firstboot(&o),
            [
                "root=LABEL=root",
                "rw",
                "console=ttyS0,115200",
                "ignition.platform.id=qemu"
            ]
        );
        let again = after_firstboot(&after_firstboot(&o));
        assert_eq!(again, after_firstboot(&o), "idempotent");
    }

    #[test]
    fn quoted_arguments_stay_whole() {
        assert_eq!(split_kargs(r#"a  b="c d" e"#), ["a", r#"b="c d""#, "e"]);
        assert!(split_kargs("  ").is_empty());
    }
}
