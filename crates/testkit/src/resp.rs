//! A minimal blocking RESP client for setting up and checking Redis contents in tests
//! (independent of lifeboat-dump's own client, so a bug there cannot hide itself here).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// One RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub enum R {
    /// A null bulk string or array.
    Nil,
    /// An integer reply.
    Int(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A simple string (`+OK`).
    Simple(String),
    /// An error reply.
    Err(String),
    /// An array.
    Arr(Vec<R>),
}

/// (key, type, canonical content, PTTL in ms) of one key, from [`Redis::snapshot`].
pub type KeyDump = (Vec<u8>, String, Vec<u8>, i64);

/// (type, canonical content, expiry class) of one key, from [`Redis::snapshot_by_key`].
pub type KeyState = (String, Vec<u8>, &'static str);

/// A connection to one database of a Redis server.
pub struct Redis {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Redis {
    /// Connects to the URL's server, authenticates with its password and selects its database
    /// (`redis://:pw@host:port/3`); panics when any of that fails.
    pub fn connect(url: &str) -> Redis {
        let u = url::Url::parse(url).unwrap();
        let s = TcpStream::connect((u.host_str().unwrap(), u.port().unwrap()))
            .expect("connect to redis (run scripts/services.sh)");
        let mut r = Redis { rd: BufReader::new(s.try_clone().unwrap()), wr: s };
        if let Some(pw) = u.password() {
            assert_eq!(r.cmd(&[b"AUTH", pw.as_bytes()]), R::Simple("OK".into()));
        }
        let db = u.path().trim_start_matches('/');
        if !db.is_empty() {
            assert_eq!(r.cmd(&[b"SELECT", db.as_bytes()]), R::Simple("OK".into()));
        }
        r
    }

    /// Sends one command (binary-safe arguments) and reads its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> R {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.wr.write_all(&out).unwrap();
        self.read()
    }

    /// [`Redis::cmd`] with text arguments.
    pub fn cmd_str(&mut self, args: &[&str]) -> R {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&v)
    }

    fn read(&mut self) -> R {
        let mut line = Vec::new();
        self.rd.read_until(b'\n', &mut line).unwrap();
        assert!(line.len() >= 3, "short reply {line:?}");
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => R::Simple(text),
            b'-' => R::Err(text),
            b':' => R::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                let mut v = vec![0u8; n as usize + 2];
                self.rd.read_exact(&mut v).unwrap();
                v.truncate(n as usize);
                R::Bulk(v)
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                R::Arr((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply {line:?}"),
        }
    }

    /// Every key of the selected database matching `pattern`, sorted (SCAN, not KEYS).
    pub fn keys(&mut self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let R::Arr(parts) = self.cmd(&[b"SCAN", &cursor, b"MATCH", pattern, b"COUNT", b"1000"]) else {
                panic!("SCAN")
            };
            let (R::Bulk(c), R::Arr(ks)) = (&parts[0], &parts[1]) else { panic!("SCAN reply") };
            keys.extend(ks.iter().filter_map(|k| if let R::Bulk(k) = k { Some(k.clone()) } else { None }));
            cursor = c.clone();
            if cursor == b"0" {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Deletes every key matching `pattern`.
    pub fn clear(&mut self, pattern: &[u8]) {
        for k in self.keys(pattern) {
            self.cmd(&[b"DEL", &k]);
        }
    }

    /// The value of key `k` of type `t` in a canonical form: independent of encodings and of
    /// hash and set order, length-prefixed so no two values share a form.
    pub fn content(&mut self, k: &[u8], t: &str) -> Vec<u8> {
        fn flat(r: R, out: &mut Vec<Vec<u8>>) {
            match r {
                R::Bulk(b) => out.push(b),
                R::Int(i) => out.push(i.to_string().into_bytes()),
                R::Simple(s) => out.push(s.into_bytes()),
                R::Nil => out.push(b"<nil>".to_vec()),
                R::Err(e) => out.push(format!("<err {e}>").into_bytes()),
                R::Arr(v) => {
                    out.push(format!("[{}", v.len()).into_bytes());
                    for x in v {
                        flat(x, out);
                    }
                    out.push(b"]".to_vec());
                }
            }
        }
        let mut parts = Vec::new();
        match t {
            "string" => flat(self.cmd(&[b"GET", k]), &mut parts),
            "list" => flat(self.cmd(&[b"LRANGE", k, b"0", b"-1"]), &mut parts),
            "zset" => flat(self.cmd(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]), &mut parts),
            "hash" => {
                let R::Arr(v) = self.cmd(&[b"HGETALL", k]) else { panic!("HGETALL") };
                let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = v
                    .chunks(2)
                    .map(|c| match (&c[0], &c[1]) {
                        (R::Bulk(a), R::Bulk(b)) => (a.clone(), b.clone()),
                        other => panic!("HGETALL pair {other:?}"),
                    })
                    .collect();
                pairs.sort();
                for (a, b) in pairs {
                    parts.push(a);
                    parts.push(b);
                }
            }
            "set" => {
                let R::Arr(v) = self.cmd(&[b"SMEMBERS", k]) else { panic!("SMEMBERS") };
                let mut m: Vec<Vec<u8>> =
                    v.into_iter().map(|x| if let R::Bulk(b) = x { b } else { panic!("SMEMBERS member") }).collect();
                m.sort();
                parts.extend(m);
            }
            "stream" => {
                flat(self.cmd(&[b"XRANGE", k, b"-", b"+"]), &mut parts);
                flat(self.cmd(&[b"XINFO", b"GROUPS", k]), &mut parts);
                flat(self.cmd(&[b"XPENDING", k, b"grp"]), &mut parts);
            }
            other => panic!("type {other}"),
        }
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(format!("{}:", p.len()).as_bytes());
            out.extend_from_slice(&p);
        }
        out
    }

    /// (key, type, canonical content, PTTL) of every key matching `pattern`, by key.
    pub fn snapshot(&mut self, pattern: &[u8]) -> Vec<KeyDump> {
        let mut out = Vec::new();
        for k in self.keys(pattern) {
            let R::Simple(t) = self.cmd(&[b"TYPE", &k]) else { panic!("TYPE") };
            let d = self.content(&k, &t);
            let R::Int(ttl) = self.cmd(&[b"PTTL", &k]) else { panic!("PTTL") };
            out.push((k, t, d, ttl));
        }
        out
    }

    /// Key -> (type, canonical content, expiry class) of every key matching `pattern`. TTLs are
    /// compared as a class (none, more than a minute left, less), as they tick while a test runs.
    pub fn snapshot_by_key(&mut self, pattern: &[u8]) -> BTreeMap<Vec<u8>, KeyState> {
        self.snapshot(pattern).into_iter().map(|(k, t, content, ttl)| (k, (t, content, expiry_class(ttl)))).collect()
    }
}

/// The expiry class of a PTTL reply.
fn expiry_class(pttl: i64) -> &'static str {
    match pttl {
        -1 => "no expiry",
        t if t > 60_000 => "expires in more than a minute",
        _ => "expires soon",
    }
}

#[cfg(test)]
mod tests {
    use super::expiry_class;

    #[test]
    fn expiry_classes_separate_none_long_and_short() {
        assert_eq!(expiry_class(-1), "no expiry");
        assert_eq!(expiry_class(3_600_000), "expires in more than a minute");
        assert_eq!(expiry_class(60_001), "expires in more than a minute");
        assert_eq!(expiry_class(60_000), "expires soon");
        assert_eq!(expiry_class(5), "expires soon");
    }
}
