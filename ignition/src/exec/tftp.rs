//! A small TFTP client for `tftp://host[:port]/path` resources (RFC 1350):
//! one read request in octet mode, 512-byte blocks each acknowledged, the
//! last packet sent again when nothing comes within the timeout, and the
//! server's error packets reported with their code and message. Options
//! (RFC 2347/2348: block size, transfer size) are not sent.
//!
//! As Go Ignition: the port defaults to 69 and the file name is the URL's
//! path, percent-decoded, leading `/` included.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const BLOCK: usize = 512;

/// How patient the client is.
#[derive(Debug, Clone)]
pub struct TftpSettings {
    /// How long to wait for the next packet before sending the last one again.
    pub timeout: Duration,
    /// How many times the last packet is sent again before giving up.
    pub retries: u32,
    /// The whole transfer's limit, if any.
    pub total: Option<Duration>,
    /// The largest file accepted.
    pub max_size: u64,
}

impl Default for TftpSettings {
    fn default() -> Self {
        TftpSettings {
            timeout: Duration::from_secs(2),
            retries: 5,
            total: None,
            max_size: crate::fetch::DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// The server address and the file name of a `tftp://` URL.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("tftp://"))
        .map(|_| &url[7..])
        .ok_or("not a tftp:// URL")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("no host".into());
    }
    if path.len() <= 1 {
        return Err("no file name".into());
    }
    let has_port = match authority.rfind(']') {
        Some(b) => authority[b..].contains(':'),
        None => authority.contains(':'),
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:69")
    };
    Ok((addr, percent_decode(path)?))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid escape at {:?}", &s[i..]))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the path is not UTF-8".to_string())
}

fn error_name(code: u16) -> &'static str {
    match code {
        1 => "file not found",
        2 => "access violation",
        3 => "disk full or allocation exceeded",
        4 => "illegal TFTP operation",
        5 => "unknown transfer ID",
        6 => "file already exists",
        7 => "no such user",
        _ => "not defined",
    }
}

fn packet(opcode: u16, block: u16) -> [u8; 4] {
    let [a, b] = opcode.to_be_bytes();
    let [c, d] = block.to_be_bytes();
    [a, b, c, d]
}

fn error_packet(code: u16, message: &str) -> Vec<u8> {
    let mut p = packet(ERROR, code).to_vec();
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// Reads the file a `tftp://` URL names. Errors say why (the caller adds the URL).
pub fn get(url: &str, s: &TftpSettings) -> Result<Vec<u8>, String> {
    let (authority, file) = parse_url(url).map_err(|e| format!("invalid tftp URL: {e}"))?;
    let server: SocketAddr = authority
        .to_socket_addrs()
        .map_err(|e| format!("resolving {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))?;
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("a valid address")
    } else {
        "[::]:0".parse().expect("a valid address")
    };
    let sock = UdpSocket::bind(local).map_err(|e| format!("binding a UDP socket: {e}"))?;
    let started = Instant::now();

    let mut rrq = packet(RRQ, 0)[..2].to_vec();
    rrq.extend_from_slice(file.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");

    // The last packet sent and where, sent again on a timeout.
    let mut last: Vec<u8> = rrq;
    let mut last_to = server;
    let mut peer: Option<SocketAddr> = None;
    let mut expected: u16 = 1;
    let mut data = Vec::new();
    let mut retries_left = s.retries;
    let mut buf = vec![0u8; 4 + BLOCK + 1];
    sock.send_to(&last, last_to)
        .map_err(|e| format!("sending the read request to {server}: {e}"))?;
    loop {
        let wait = match s.total {
            Some(t) => {
                let left = t.checked_sub(started.elapsed()).ok_or_else(|| {
                    format!("timed out after {t:?} (waiting for block {expected})")
                })?;
                left.min(s.timeout)
            }
            None => s.timeout,
        };
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if retries_left == 0 {
                    return Err(format!(
                        "no answer from {} after {} retransmissions (waiting for block {expected})",
                        peer.unwrap_or(server),
                        s.retries
                    ));
                }
                retries_left -= 1;
                tracing::debug!("tftp: timeout, sending the last packet again");
                sock.send_to(&last, last_to).map_err(|e| e.to_string())?;
                continue;
            }
            // An ICMP port unreachable from an earlier send, for instance.
            Err(e) => return Err(format!("receiving from {server}: {e}")),
        };
        // The server answers from a new port (its transfer ID), then only from it.
        match peer {
            None if from.ip() == server.ip() => peer = Some(from),
            Some(p) if p == from => {}
            _ => {
                let _ = sock.send_to(&error_packet(5, "Unknown transfer ID"), from);
                continue;
            }
        }
        let p = &buf[..n];
        if p.len() < 4 {
            return Err(format!("a packet of {} bytes from {from}", p.len()));
        }
        let opcode = u16::from_be_bytes([p[0], p[1]]);
        let arg = u16::from_be_bytes([p[2], p[3]]);
        match opcode {
            DATA => {
                let payload = &p[4..];
                if payload.len() > BLOCK {
                    return Err(format!("block {arg} holds more than {BLOCK} bytes"));
                }
                if arg == expected {
                    if data.len() as u64 + payload.len() as u64 > s.max_size {
                        let _ = sock.send_to(&error_packet(3, "file too large"), from);
                        return Err(format!("the file is larger than {} bytes", s.max_size));
                    }
                    data.extend_from_slice(payload);
                    last = packet(ACK, arg).to_vec();
                    last_to = from;
                    sock.send_to(&last, last_to).map_err(|e| e.to_string())?;
                    retries_left = s.retries;
                    if payload.len() < BLOCK {
                        return Ok(data);
                    }
                    expected = expected.wrapping_add(1);
                } else if arg == expected.wrapping_sub(1) {
                    // Our acknowledgement was lost: say it again.
                    sock.send_to(&packet(ACK, arg), from)
                        .map_err(|e| e.to_string())?;
                }
            }
            ERROR => {
                let msg = &p[4..];
                let msg = msg.split(|&c| c == 0).next().unwrap_or_default();
                let msg = String::from_utf8_lossy(msg);
                return Err(format!(
                    "the TFTP server answered error {arg} ({}){}",
                    error_name(arg),
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    }
                ));
            }
            other => {
                let _ = sock.send_to(&error_packet(4, "Illegal TFTP operation"), from);
                return Err(format!(
                    "unexpected TFTP packet (opcode {other}) from {from}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::JoinHandle;

    #[test]
    fn parses_urls_as_go_does() {
        assert_eq!(
            parse_url("tftp://10.0.0.1/boot/config.ign").unwrap(),
            ("10.0.0.1:69".into(), "/boot/config.ign".into())
        );
        assert_eq!(
            parse_url("TFTP://h:6969/a%20b").unwrap(),
            ("h:6969".into(), "/a b".into())
        );
        assert_eq!(
            parse_url("tftp://[::1]/x").unwrap(),
            ("[::1]:69".into(), "/x".into())
        );
        assert_eq!(
            parse_url("tftp://[::1]:70/x").unwrap(),
            ("[::1]:70".into(), "/x".into())
        );
        assert!(parse_url("tftp://h/").is_err());
        assert!(parse_url("tftp:///x").is_err());
        assert!(parse_url("tftp://h/%zz").is_err());
    }

    /// What the test server does wrong on purpose.
    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        None,
        /// The first DATA of block 2 is not sent (lost).
        LoseBlock2,
        /// The first read request is ignored (lost).
        LoseRequest,
        /// Answers every request with error 1.
        NotFound,
        /// Never answers.
        Silent,
    }

    /// A one-transfer TFTP server on 127.0.0.1 (std only). Returns its
    /// address and the thread, which returns how many DATA packets it sent.
    fn server(file: Vec<u8>, fault: Fault) -> (SocketAddr, JoinHandle<usize>) {
        let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = listen.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut sent = 0;
            let mut buf = [0u8; 600];
            let mut requests = 0;
            let (n, client) = loop {
                let (n, client) = listen.recv_from(&mut buf).unwrap();
                requests += 1;
                if fault == Fault::LoseRequest && requests == 1 {
                    continue;
                }
                break (n, client);
            };
            if fault == Fault::Silent {
                std::thread::sleep(Duration::from_secs(5));
                return sent;
            }
            assert_eq!(&buf[..2], &[0, 1], "not a read request");
            let fields: Vec<&[u8]> = buf[2..n].split(|&c| c == 0).collect();
            assert_eq!(fields[1], b"octet");
            // A new port for the transfer, as servers do.
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            if fault == Fault::NotFound {
                let name = String::from_utf8_lossy(fields[0]).into_owned();
                s.send_to(&error_packet(1, &format!("{name} does not exist")), client)
                    .unwrap();
                return sent;
            }
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let blocks = file.len() / BLOCK + 1;
            let mut lost = false;
            let mut block = 1usize;
            while block <= blocks {
                let chunk = &file[(block - 1) * BLOCK..(block * BLOCK).min(file.len())];
                let mut p = packet(DATA, block as u16).to_vec();
                p.extend_from_slice(chunk);
                if fault == Fault::LoseBlock2 && block == 2 && !lost {
                    lost = true; // dropped: wait for the client's retransmitted ACK 1
                } else {
                    s.send_to(&p, client).unwrap();
                    sent += 1;
                }
                let Ok((n, _)) = s.recv_from(&mut buf) else {
                    return sent;
                };
                assert_eq!(&buf[..2], &[0, ACK as u8]);
                let acked = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                if acked == block {
                    block += 1;
                }
                let _ = n;
            }
            sent
        });
        (addr, handle)
    }

    fn quick() -> TftpSettings {
        TftpSettings {
            timeout: Duration::from_millis(200),
            retries: 3,
            ..Default::default()
        }
    }

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn reads_files_of_several_blocks() {
        for size in [0, 1, 511, 512, 1300, 1536, 20_000] {
            let (addr, sent) = server(body(size), Fault::None);
            let got = get(&format!("tftp://{addr}/f"), &quick()).unwrap();
            assert_eq!(got, body(size), "size {size}");
            assert_eq!(sent.join().unwrap(), size / BLOCK + 1);
        }
    }

    #[test]
    fn retransmits_when_a_packet_is_lost() {
        let (addr, sent) = server(body(1300), Fault::LoseBlock2);
        let got = get(&format!("tftp://{addr}/f"), &quick()).unwrap();
        assert_eq!(got, body(1300));
        // Three blocks, and block 2 was sent once only: after the client's
        // retransmitted ACK 1 (the "lost" one was never sent).
        assert_eq!(sent.join().unwrap(), 3);
        let (addr, _) = server(body(700), Fault::LoseRequest);
        assert_eq!(
            get(&format!("tftp://{addr}/f"), &quick()).unwrap(),
            body(700)
        );
    }

    #[test]
    fn reports_error_packets_and_silence() {
        let (addr, _) = server(Vec::new(), Fault::NotFound);
        let e = get(&format!("tftp://{addr}/missing.ign"), &quick()).unwrap_err();
        assert_eq!(
            e,
            "the TFTP server answered error 1 (file not found): /missing.ign does not exist"
        );
        let (addr, _) = server(Vec::new(), Fault::Silent);
        let t = Instant::now();
        let e = get(&format!("tftp://{addr}/f"), &quick()).unwrap_err();
        assert!(e.contains("after 3 retransmissions"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
