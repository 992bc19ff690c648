//! `tftp://` resources through the `files` stage of our `ignition` binary,
//! against a small TFTP server (RFC 1350, std only) on 127.0.0.1; and the
//! journal: the binary's structured entries read from a datagram socket
//! standing in for journald's.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sha2::{Digest, Sha512};

/// Serves `files` (name as requested -> contents) to any number of
/// clients, one transfer at a time; unknown names get error 1.
fn tftp_server(files: Vec<(&'static str, Vec<u8>)>) -> SocketAddr {
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = listen.local_addr().unwrap();
    std::thread::spawn(move || loop {
        let mut buf = [0u8; 600];
        let Ok((n, client)) = listen.recv_from(&mut buf) else {
            return;
        };
        let name = buf[2..n].split(|&c| c == 0).next().unwrap().to_vec();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let Some((_, body)) = files.iter().find(|(f, _)| f.as_bytes() == name) else {
            let mut p = vec![0, 5, 0, 1];
            p.extend_from_slice(b"no such file\0");
            s.send_to(&p, client).unwrap();
            continue;
        };
        for (i, chunk) in body
            .chunks(512)
            .chain(
                // A file of a multiple of 512 bytes ends with an empty block.
                (body.len() % 512 == 0).then_some(&[][..]),
            )
            .enumerate()
        {
            let block = (i + 1) as u16;
            let mut p = vec![0, 3];
            p.extend_from_slice(&block.to_be_bytes());
            p.extend_from_slice(chunk);
            loop {
                s.send_to(&p, client).unwrap();
                let mut ack = [0u8; 4];
                match s.recv_from(&mut ack) {
                    Ok((4, _)) if ack == [0, 4, p[2], p[3]] => break,
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        }
    });
    addr
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::create_dir(dir.path().join("sys")).unwrap();
        std::fs::write(dir.path().join("boot_id"), "0000\n").unwrap();
        Env { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn files(&self, config: &str, log_to_stdout: bool, journal: Option<&Path>) -> Output {
        let cache = self.dir.path().join("cache.json");
        std::fs::write(&cache, config).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_ignition"));
        c.args(["-platform", "file", "-stage", "files"])
            .arg(format!("-root={}", self.root().display()))
            .arg("-config-cache")
            .arg(&cache)
            .arg("-state-file")
            .arg(self.dir.path().join("state"))
            .env("IGNITION_SYSTEM_CONFIG_DIR", self.dir.path().join("sys"))
            .env("IGNITION_BOOT_ID_PATH", self.dir.path().join("boot_id"))
            .env(
                "IGNITION_JOURNAL_SOCKET",
                journal.map_or_else(|| self.dir.path().join("no-journal"), Path::to_path_buf),
            );
        if log_to_stdout {
            c.arg("-log-to-stdout");
        }
        c.output().unwrap()
    }
}

fn sha512(b: &[u8]) -> String {
    Sha512::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"ignition "[i % 9]).collect()
}

#[test]
fn files_from_tftp_with_hashes() {
    let addr = tftp_server(vec![("/conf/big.txt", body(1300)), ("/small", body(512))]);
    let env = Env::new();
    let config = format!(
        r#"{{"ignition":{{"version":"3.4.0"}},"storage":{{"files":[
            {{"path":"/etc/big.txt","contents":{{"source":"tftp://{addr}/conf/big.txt","verification":{{"hash":"sha512-{}"}}}}}},
            {{"path":"/etc/small","contents":{{"source":"tftp://{addr}/small"}},"mode":384}}]}}}}"#,
        sha512(&body(1300))
    );
    let out = env.files(&config, true, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(env.root().join("etc/big.txt")).unwrap(),
        body(1300)
    );
    assert_eq!(
        std::fs::read(env.root().join("etc/small")).unwrap(),
        body(512)
    );
}

#[test]
fn a_tftp_error_fails_the_stage_naming_the_url_before_any_write() {
    let addr = tftp_server(vec![("/there", body(10))]);
    let env = Env::new();
    let config = format!(
        r#"{{"ignition":{{"version":"3.4.0"}},"storage":{{"files":[
            {{"path":"/etc/a","contents":{{"source":"tftp://{addr}/there"}}}},
            {{"path":"/etc/b","contents":{{"source":"tftp://{addr}/missing.ign"}}}}]}}}}"#
    );
    let out = env.files(&config, false, None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("files failed"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains(&format!(
            "$.storage.files.1.contents (/etc/b): fetching tftp://{addr}/missing.ign failed: the TFTP server answered error 1 (file not found): no such file"
        )),
        "{line}"
    );
    assert!(
        std::fs::read_dir(env.root()).unwrap().next().is_none(),
        "the root was touched"
    );
}

/// Parses one native journal datagram into (name, value) pairs.
fn parse(mut d: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let nl = d.iter().position(|&c| c == b'\n').unwrap();
        let line = &d[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.push((
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            ));
            d = &d[nl + 1..];
        } else {
            let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
            out.push((
                String::from_utf8_lossy(line).into_owned(),
                String::from_utf8_lossy(&d[nl + 9..nl + 9 + len]).into_owned(),
            ));
            d = &d[nl + 9 + len + 1..];
        }
    }
    out
}

fn entries(sock: &UnixDatagram) -> Vec<Vec<(String, String)>> {
    sock.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(parse(&buf[..n]));
    }
    out
}

fn field<'a>(e: &'a [(String, String)], name: &str) -> Option<&'a str> {
    e.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

const STAGE_STARTED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e01";
const STAGE_FINISHED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e02";
const STAGE_FAILED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e03";
const FILE_WRITTEN: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e04";

#[test]
fn logs_to_the_journal_with_message_ids_when_its_socket_exists() {
    let env = Env::new();
    let sock_path = env.dir.path().join("journal.socket");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let ok = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/motd","overwrite":true,"contents":{"source":"data:,hello"}}]}}"#;
    let out = env.files(ok, false, Some(&sock_path));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "the log went to the journal only"
    );
    let got = entries(&sock);
    let with_id = |id: &str| got.iter().find(|e| field(e, "MESSAGE_ID") == Some(id));
    let started = with_id(STAGE_STARTED).expect("a stage-started entry");
    assert_eq!(field(started, "STAGE"), Some("files"));
    assert_eq!(field(started, "SYSLOG_IDENTIFIER"), Some("ignition"));
    assert_eq!(field(started, "IGNITION_STAGE"), Some("files"));
    let written = with_id(FILE_WRITTEN).expect("a file-written entry");
    assert_eq!(field(written, "PATH"), Some("/etc/motd"));
    assert_eq!(field(written, "BYTES"), Some("5"));
    assert_eq!(field(written, "MESSAGE"), Some("wrote file /etc/motd"));
    assert_eq!(field(written, "PRIORITY"), Some("6"));
    assert!(with_id(STAGE_FINISHED).is_some());

    // A failure: an error entry, and the one line on stderr too.
    let bad = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/x","contents":{"source":"data:,x","verification":{"hash":"sha512-00"}}}]}}"#;
    let out = env.files(bad, false, Some(&sock_path));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("ignition: files failed: "));
    let got = entries(&sock);
    let failed = got
        .iter()
        .find(|e| field(e, "MESSAGE_ID") == Some(STAGE_FAILED))
        .expect("a stage-failed entry");
    assert_eq!(field(failed, "PRIORITY"), Some("3"));
    assert!(field(failed, "ERROR")
        .unwrap()
        .contains("$.storage.files.0"));

    // -log-to-stdout wins over the journal; without the socket, stderr.
    let out = env.files(ok, true, Some(&sock_path));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stage files finished"));
    assert!(entries(&sock).is_empty());
    drop(sock);
    std::fs::remove_file(&sock_path).unwrap();
    let out = env.files(ok, false, Some(&sock_path));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stage files finished"));
}
