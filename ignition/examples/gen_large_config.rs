//! Generates a large, deterministic, valid Ignition spec 3.3.0 config for benchmarking
//! `ignition-validate` (see bench/validate-vs-go.sh).
//!
//! Usage: cargo run --release -p ignition --example gen_large_config -- OUT.ign
//!
//! Contents: 20,000 files with `data:` URL contents (half base64, half percent-encoded; every
//! fourth with a correct sha512 verification hash), varied modes and owners; 500 directories;
//! 2,000 links (to files; every tenth a hard link); 200 systemd units with [Install] sections,
//! every fourth with a drop-in. About 8 MB. The same bytes on every run. Std only.

use std::fmt::Write as _;
use std::io::Write as _;

const FILES: usize = 20_000;
const DIRS: usize = 500;
const LINKS: usize = 2_000;
const UNITS: usize = 200;

/// Small deterministic PRNG (SplitMix64), so the output is identical everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "mooring", "ignition", "node",
];

/// A small config-file-like text of roughly 60-250 bytes.
fn file_text(rng: &mut Rng, i: usize) -> String {
    let mut s = format!("# generated file {i}\n[section-{}]\n", i % 17);
    let lines = 1 + rng.below(4) as usize;
    for n in 0..lines {
        let w1 = WORDS[rng.below(WORDS.len() as u64) as usize];
        let w2 = WORDS[rng.below(WORDS.len() as u64) as usize];
        let _ = writeln!(s, "{w1}_{n} = \"{w2} {}\" ; 50% & more", rng.below(100_000));
    }
    s
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Percent-encodes everything outside RFC 3986's unreserved set.
fn percent_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// SHA-512 (FIPS 180-4), so every `verification.hash` matches its data URL's decoded contents.
fn sha512(data: &[u8]) -> [u8; 64] {
    const K: [u64; 80] = [
        0x428a2f98d728ae22,
        0x7137449123ef65cd,
        0xb5c0fbcfec4d3b2f,
        0xe9b5dba58189dbbc,
        0x3956c25bf348b538,
        0x59f111f1b605d019,
        0x923f82a4af194f9b,
        0xab1c5ed5da6d8118,
        0xd807aa98a3030242,
        0x12835b0145706fbe,
        0x243185be4ee4b28c,
        0x550c7dc3d5ffb4e2,
        0x72be5d74f27b896f,
        0x80deb1fe3b1696b1,
        0x9bdc06a725c71235,
        0xc19bf174cf692694,
        0xe49b69c19ef14ad2,
        0xefbe4786384f25e3,
        0x0fc19dc68b8cd5b5,
        0x240ca1cc77ac9c65,
        0x2de92c6f592b0275,
        0x4a7484aa6ea6e483,
        0x5cb0a9dcbd41fbd4,
        0x76f988da831153b5,
        0x983e5152ee66dfab,
        0xa831c66d2db43210,
        0xb00327c898fb213f,
        0xbf597fc7beef0ee4,
        0xc6e00bf33da88fc2,
        0xd5a79147930aa725,
        0x06ca6351e003826f,
        0x142929670a0e6e70,
        0x27b70a8546d22ffc,
        0x2e1b21385c26c926,
        0x4d2c6dfc5ac42aed,
        0x53380d139d95b3df,
        0x650a73548baf63de,
        0x766a0abb3c77b2a8,
        0x81c2c92e47edaee6,
        0x92722c851482353b,
        0xa2bfe8a14cf10364,
        0xa81a664bbc423001,
        0xc24b8b70d0f89791,
        0xc76c51a30654be30,
        0xd192e819d6ef5218,
        0xd69906245565a910,
        0xf40e35855771202a,
        0x106aa07032bbd1b8,
        0x19a4c116b8d2d0c8,
        0x1e376c085141ab53,
        0x2748774cdf8eeb99,
        0x34b0bcb5e19b48a8,
        0x391c0cb3c5c95a63,
        0x4ed8aa4ae3418acb,
        0x5b9cca4f7763e373,
        0x682e6ff3d6b2b8a3,
        0x748f82ee5defb2fc,
        0x78a5636f43172f60,
        0x84c87814a1f0ab72,
        0x8cc702081a6439ec,
        0x90befffa23631e28,
        0xa4506cebde82bde9,
        0xbef9a3f7b2c67915,
        0xc67178f2e372532b,
        0xca273eceea26619c,
        0xd186b8c721c0c207,
        0xeada7dd6cde0eb1e,
        0xf57d4f7fee6ed178,
        0x06f067aa72176fba,
        0x0a637dc5a2c898a6,
        0x113f9804bef90dae,
        0x1b710b35131c471b,
        0x28db77f523047d84,
        0x32caab7b40c72493,
        0x3c9ebe0a15c9bebc,
        0x431d67c49c100d4c,
        0x4cc5d4becb3e42b6,
        0x597f299cfc657e2a,
        0x5fcb6fab3ad6faec,
        0x6c44198c4a475817,
    ];
    let mut h: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 128 != 112 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u128) * 8).to_be_bytes());
    for block in msg.chunks(128) {
        let mut w = [0u64; 80];
        for (t, word) in block.chunks(8).enumerate() {
            w[t] = u64::from_be_bytes(word.try_into().expect("8-byte word"));
        }
        for t in 16..80 {
            let s0 = w[t - 15].rotate_right(1) ^ w[t - 15].rotate_right(8) ^ (w[t - 15] >> 7);
            let s1 = w[t - 2].rotate_right(19) ^ w[t - 2].rotate_right(61) ^ (w[t - 2] >> 6);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for t in 0..80 {
            let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[t])
                .wrapping_add(w[t]);
            let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_mut(8).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// JSON string literal. Our generated text is ASCII; escape what JSON requires anyway.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dir_path(d: usize) -> String {
    format!("/var/lib/bench/d{d:03}")
}

fn file_path(i: usize) -> String {
    format!("{}/file-{i:05}.conf", dir_path(i % DIRS))
}

fn generate() -> String {
    let mut rng = Rng(0x6d6f_6f72_696e_6721);
    let mut j = String::with_capacity(9 << 20);
    j.push_str(
        "{\n  \"ignition\": {\"version\": \"3.3.0\"},\n  \"storage\": {\n    \"directories\": [\n",
    );
    for d in 0..DIRS {
        let sep = if d + 1 < DIRS { "," } else { "" };
        let owner = if d % 5 == 0 {
            r#", "user": {"name": "core"}, "group": {"name": "core"}"#
        } else {
            ""
        };
        let _ = writeln!(
            j,
            "      {{\"path\": {}, \"mode\": 493{owner}}}{sep}",
            js(&dir_path(d))
        );
    }
    j.push_str("    ],\n    \"files\": [\n");
    const MODES: [u32; 4] = [0o644, 0o600, 0o755, 0o640];
    for i in 0..FILES {
        let text = file_text(&mut rng, i);
        let source = if i % 2 == 0 {
            format!(
                "data:text/plain;charset=utf-8;base64,{}",
                base64(text.as_bytes())
            )
        } else {
            format!("data:,{}", percent_encode(text.as_bytes()))
        };
        let mut contents = format!("{{\"source\": {}", js(&source));
        if i % 4 == 0 {
            let _ = write!(
                contents,
                ", \"verification\": {{\"hash\": \"sha512-{}\"}}",
                hex(&sha512(text.as_bytes()))
            );
        }
        contents.push('}');
        let owner = match i % 6 {
            0 => r#", "user": {"name": "core"}, "group": {"name": "core"}"#,
            1 => r#", "user": {"id": 1000}, "group": {"id": 1000}"#,
            2 => r#", "user": {"id": 0}"#,
            3 => r#", "group": {"name": "wheel"}"#,
            _ => "",
        };
        let overwrite = if i % 3 == 0 {
            ", \"overwrite\": true"
        } else {
            ""
        };
        let sep = if i + 1 < FILES { "," } else { "" };
        let _ = writeln!(
            j,
            "      {{\"path\": {}, \"mode\": {}{overwrite}{owner}, \"contents\": {contents}}}{sep}",
            js(&file_path(i)),
            MODES[i % MODES.len()],
        );
    }
    j.push_str("    ],\n    \"links\": [\n");
    for l in 0..LINKS {
        // Spread targets over the files; links live in their own directory.
        let target = file_path((l * 7919) % FILES);
        let hard = if l % 10 == 0 { ", \"hard\": true" } else { "" };
        let sep = if l + 1 < LINKS { "," } else { "" };
        let _ = writeln!(
            j,
            "      {{\"path\": \"/var/lib/bench/links/link-{l:05}\", \"target\": {}{hard}}}{sep}",
            js(&target)
        );
    }
    j.push_str("    ]\n  },\n  \"systemd\": {\n    \"units\": [\n");
    for u in 0..UNITS {
        let is_timer = u % 10 == 9;
        let (name, contents) = if is_timer {
            (
                format!("bench-{u:03}.timer"),
                format!(
                    "[Unit]\nDescription=Bench timer {u}\n\n[Timer]\nOnCalendar=*-*-* 0{}:00:00\n\
                     Persistent=true\n\n[Install]\nWantedBy=timers.target\n",
                    u % 10
                ),
            )
        } else {
            (
                format!("bench-{u:03}.service"),
                format!(
                    "[Unit]\nDescription=Bench service {u}\nAfter=network-online.target\n\
                     Wants=network-online.target\n\n[Service]\nType=oneshot\n\
                     ExecStart=/usr/bin/cat {}\nRemainAfterExit=yes\n\n[Install]\n\
                     WantedBy=multi-user.target\n",
                    file_path(u)
                ),
            )
        };
        let mut unit = format!(
            "      {{\"name\": {}, \"enabled\": {}, \"contents\": {}",
            js(&name),
            u % 7 != 3,
            js(&contents)
        );
        if u % 4 == 0 {
            let _ = write!(
                unit,
                ", \"dropins\": [{{\"name\": \"10-bench.conf\", \"contents\": {}}}]",
                js(&format!("[Service]\nEnvironment=BENCH_UNIT={u}\nNice=5\n"))
            );
        }
        unit.push('}');
        let sep = if u + 1 < UNITS { "," } else { "" };
        let _ = writeln!(j, "{unit}{sep}");
    }
    j.push_str("    ]\n  }\n}\n");
    j
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen_large_config OUT.ign");
        std::process::exit(2);
    };
    // Self-check of the hash implementation against the FIPS 180-4 "abc" vector.
    assert_eq!(
        hex(&sha512(b"abc")),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
    let config = generate();
    let write = std::fs::File::create(&out).and_then(|mut f| f.write_all(config.as_bytes()));
    if let Err(e) = write {
        eprintln!("gen_large_config: writing {}: {e}", out.to_string_lossy());
        std::process::exit(1);
    }
    eprintln!(
        "gen_large_config: wrote {} ({} bytes: {FILES} files, {DIRS} directories, {LINKS} links, {UNITS} units)",
        out.to_string_lossy(),
        config.len()
    );
}
