//! The `ignition` section: config references, CAs, proxies.

use super::resource;
use crate::jpath;
use crate::model::Ignition;
use crate::path::JsonPath;
use crate::report::Report;
use crate::url;
use crate::version::SpecVersion;

pub fn validate(ign: &Ignition, v: SpecVersion, r: &mut Report) {
    let config_at = jpath!["ignition", "config"];
    for (i, res) in ign.config.merge.iter().enumerate() {
        let at = config_at.key("merge").index(i);
        if v.since(1) {
            resource::require_source(res, &at, v, r);
            resource::validate(res, &at, v, r);
        } else {
            resource::validate_reference_30(res, &at, false, v, r);
        }
    }
    let replace_at = config_at.key("replace");
    if v.since(1) {
        resource::validate(&ign.config.replace, &replace_at, v, r);
    } else {
        resource::validate_reference_30(&ign.config.replace, &replace_at, false, v, r);
    }

    let tls_at = jpath!["ignition", "security", "tls", "certificateAuthorities"];
    for (i, ca) in ign.security.tls.certificate_authorities.iter().enumerate() {
        let at = tls_at.index(i);
        if v.since(1) {
            resource::require_source(ca, &at, v, r);
            resource::validate(ca, &at, v, r);
        } else {
            resource::validate_reference_30(ca, &at, true, v, r);
        }
    }

    let proxy_at = jpath!["ignition", "proxy"];
    proxy(
        ign.proxy.http_proxy.as_deref(),
        proxy_at.key("httpProxy"),
        true,
        r,
    );
    proxy(
        ign.proxy.https_proxy.as_deref(),
        proxy_at.key("httpsProxy"),
        false,
        r,
    );
}

fn proxy(value: Option<&str>, at: JsonPath, plain_http_ok: bool, r: &mut Report) {
    let Some(value) = value else { return };
    match url::parse(value) {
        Err(_) => r.error(at, "unable to parse url"),
        Ok(u) if u.scheme != "http" && u.scheme != "https" => {
            r.error(at, "proxies must be http(s)")
        }
        Ok(u) if u.scheme == "http" && !plain_http_ok => r.warning(
            at,
            "insecure plaintext HTTP proxy specified for HTTPS resources",
        ),
        Ok(_) => {}
    }
}
