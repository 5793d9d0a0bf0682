//! The RESP client both dump modes and the restorer speak to the server with: connect and
//! authenticate, pipelined commands, replies, and the few server queries they share.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::pipe::PIPE_BUF;
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};

/// The largest bulk reply accepted (a single value of 4 GiB).
const MAX_BULK: i64 = 1 << 32;

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

pub(crate) struct Resp {
    pub(super) rd: BufReader<OwnedReadHalf>,
    wr: BufWriter<OwnedWriteHalf>,
    pub(super) target: String,
}

pub(super) fn io_err(target: &str, what: &str, e: std::io::Error) -> DumpError {
    DumpError::io(what.to_string(), target.to_string(), e)
}

impl Resp {
    pub(crate) async fn connect(conn: &RedisConn) -> Result<Self> {
        let target = conn.to_string();
        let addr = (conn.host.as_str(), conn.port);
        let stream = match tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(addr)).await {
            Err(_) => return Err(DumpError::ConnectFailed { target, detail: "timed out after 15 s".into() }),
            Ok(Err(e)) => return Err(DumpError::ConnectFailed { target, detail: e.to_string() }),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let mut c =
            Resp { rd: BufReader::with_capacity(PIPE_BUF, r), wr: BufWriter::with_capacity(PIPE_BUF, w), target };
        if let Some(pw) = &conn.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &conn.user {
                args.push(u.as_bytes());
            }
            args.push(pw.expose().as_bytes());
            c.send(&args).await?;
            c.flush().await?;
            if let Reply::Error(e) = c.read().await? {
                return Err(DumpError::AuthFailed { target: c.target.clone(), detail: pw.scrub(&e) });
            }
        }
        match c.cmd(&[b"PING"], "checking the connection").await {
            Err(DumpError::Server { detail, .. }) if detail.starts_with("NOAUTH") => {
                return Err(DumpError::AuthFailed {
                    target: c.target.clone(),
                    detail: "the server requires a password (put it in the URL or REDISCLI_AUTH)".into(),
                });
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // Visible in CLIENT LIST for operators; not essential.
        let _ = c.cmd(&[b"CLIENT", b"SETNAME", b"lifeboat"], "naming the connection").await;
        Ok(c)
    }

    pub(super) async fn send(&mut self, args: &[&[u8]]) -> Result<()> {
        let mut head = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            head.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            if a.len() > 4096 {
                self.wr.write_all(&head).await.map_err(|e| io_err(&self.target, "sending a command", e))?;
                head.clear();
                self.wr.write_all(a).await.map_err(|e| io_err(&self.target, "sending a command", e))?;
            } else {
                head.extend_from_slice(a);
            }
            head.extend_from_slice(b"\r\n");
        }
        self.wr.write_all(&head).await.map_err(|e| io_err(&self.target, "sending a command", e))
    }

    pub(super) async fn flush(&mut self) -> Result<()> {
        self.wr.flush().await.map_err(|e| io_err(&self.target, "sending a command", e))
    }

    pub(super) async fn line(&mut self) -> Result<Vec<u8>> {
        let mut l = Vec::new();
        let n = self.rd.read_until(b'\n', &mut l).await.map_err(|e| io_err(&self.target, "reading a reply", e))?;
        if n == 0 {
            return Err(DumpError::ConnectFailed {
                target: self.target.clone(),
                detail: "the server closed the connection".into(),
            });
        }
        if l.ends_with(b"\r\n") {
            l.truncate(l.len() - 2);
        } else if l.ends_with(b"\n") {
            l.truncate(l.len() - 1);
        }
        Ok(l)
    }

    pub(super) fn protocol(&self, what: &str) -> DumpError {
        DumpError::Server { target: self.target.clone(), operation: "reading a reply".into(), detail: what.into() }
    }

    pub(super) async fn read(&mut self) -> Result<Reply> {
        self.read_inner().await
    }

    async fn read_inner(&mut self) -> Result<Reply> {
        let l = self.line().await?;
        let (&t, rest) = l.split_first().ok_or_else(|| self.protocol("empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        match t {
            b'+' => Ok(Reply::Simple(text)),
            b'-' => Ok(Reply::Error(text)),
            b':' => text.parse().map(Reply::Int).map_err(|_| self.protocol("bad integer reply")),
            b'$' => {
                let n: i64 = text.parse().map_err(|_| self.protocol("bad bulk length"))?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                if n > MAX_BULK {
                    return Err(self.protocol("bulk reply too large"));
                }
                let mut v = vec![0u8; n as usize + 2];
                self.rd.read_exact(&mut v).await.map_err(|e| io_err(&self.target, "reading a reply", e))?;
                v.truncate(n as usize);
                Ok(Reply::Bulk(Some(v)))
            }
            b'*' => {
                let n: i64 = text.parse().map_err(|_| self.protocol("bad array length"))?;
                if n < 0 {
                    return Ok(Reply::Array(None));
                }
                let mut items = Vec::with_capacity(n.min(4096) as usize);
                for _ in 0..n {
                    items.push(Box::pin(self.read_inner()).await?);
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(self.protocol("unknown reply type")),
        }
    }

    pub(super) async fn cmd(&mut self, args: &[&[u8]], operation: &str) -> Result<Reply> {
        self.send(args).await?;
        self.flush().await?;
        match self.read().await? {
            Reply::Error(e) => {
                Err(DumpError::Server { target: self.target.clone(), operation: operation.into(), detail: e })
            }
            r => Ok(r),
        }
    }

    pub(crate) async fn info(&mut self, section: &str) -> Result<Vec<(String, String)>> {
        let r = self.cmd(&[b"INFO", section.as_bytes()], "reading INFO").await?;
        let Reply::Bulk(Some(b)) = r else { return Err(self.protocol("INFO did not answer with text")) };
        Ok(String::from_utf8_lossy(&b)
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    pub(super) async fn select(&mut self, db: u32) -> Result<()> {
        self.cmd(&[b"SELECT", db.to_string().as_bytes()], &format!("selecting database {db}")).await.map(|_| ())
    }

    /// The server's clock in Unix milliseconds.
    pub(super) async fn server_time_ms(&mut self) -> Result<i64> {
        match self.cmd(&[b"TIME"], "reading the server time").await? {
            Reply::Array(Some(v)) if v.len() == 2 => {
                let num = |r: &Reply| match r {
                    Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).parse::<i64>().ok(),
                    _ => None,
                };
                match (num(&v[0]), num(&v[1])) {
                    (Some(s), Some(us)) => Ok(s * 1000 + us / 1000),
                    _ => Err(self.protocol("bad TIME reply")),
                }
            }
            _ => Err(self.protocol("bad TIME reply")),
        }
    }
}

/// The value of `key` in a parsed INFO section.
pub(crate) fn get<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A key for messages: text when printable, hex otherwise.
pub(super) fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("`{s}`"),
        _ => format!("0x{}", k.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shown_safely() {
        assert_eq!(show_key(b"user:1"), "`user:1`");
        assert_eq!(show_key(b"\x00\xff"), "0x00ff");
    }
}
