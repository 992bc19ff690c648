//! `mcs render --dir DIR --pool P [--json]`: the rendered MachineConfig of one
//! pool, as YAML (or JSON). Strict: any input error in the directory fails
//! the command (a refused document may be one the pool needs), and so does a
//! pool that cannot render. The name is a hash of the rendered spec, so it is
//! the same on every run and machine for the same input.

use std::path::Path;

use anyhow::bail;

/// The text to print.
pub fn render(dir: &Path, pool: &str, json: bool) -> anyhow::Result<String> {
    let loaded = machine_config::load_dir(dir);
    if !loaded.errors.is_empty() {
        let mut msg = format!(
            "cannot render pool {pool:?}: {} input error(s) in {}:",
            loaded.errors.len(),
            dir.display()
        );
        for e in &loaded.errors {
            msg.push_str(&format!("\n  {e}"));
        }
        bail!(msg);
    }
    let rendered = machine_config::render_pool(&loaded.inputs, pool)
        .map_err(|e| anyhow::anyhow!("cannot render pool {pool:?}: {e}"))?;
    if json {
        let mut s = serde_json::to_string_pretty(&rendered.machine_config)?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(serde_yaml::to_string(&rendered.machine_config)?)
    }
}
