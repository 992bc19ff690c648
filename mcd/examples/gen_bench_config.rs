//! Prints a rendered MachineConfig (JSON) with N files (default 5,000) for bench/mcd.sh:
//! 100 directories under /etc/bench, 64 to 448 bytes of text each, modes 0644 and 0600,
//! plus 20 units with drop-ins. `gen_bench_config [N] [NAME]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let name = args.next().unwrap_or_else(|| "rendered-bench-1".into());
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let body: String = format!("key{i} = value {i} {name}\n").repeat(2 + i % 14);
        let enc: String = body
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        files.push(serde_json::json!({
            "path": format!("/etc/bench/d{}/f{i}.conf", i % 100),
            "mode": if i % 3 == 0 { 0o600 } else { 0o644 },
            "contents": {"source": format!("data:,{enc}")}
        }));
    }
    let units: Vec<_> = (0..20)
        .map(|i| serde_json::json!({
            "name": format!("bench{i}.service"), "enabled": true,
            "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
            "dropins": [{"name": "10-env.conf", "contents": format!("[Service]\nEnvironment=N={i}\n")}]
        }))
        .collect();
    let mc = serde_json::json!({
        "apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
        "metadata": {"name": name},
        "spec": {"config": {"ignition": {"version": "3.4.0"}, "storage": {"files": files}, "systemd": {"units": units}}}
    });
    println!("{mc}");
}
