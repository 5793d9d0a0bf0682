//! Where lifeboatd listens: `HOST:PORT` with an IP address, or `localhost:PORT`. Whether
//! plain HTTP may be served there is lifeboat-http's rule (`check_listen`: loopback only
//! unless `--allow-plain-http`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A parsed listen address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The socket address to bind.
    pub addr: SocketAddr,
}

/// A listen address that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Not `HOST:PORT` with an IP address (or `localhost`) as host.
    #[error("listen address {given:?} is not HOST:PORT with an IP address as host (e.g. 127.0.0.1:8081, [::1]:8081)")]
    Unparsable {
        /// What was given.
        given: String,
    },
}

impl Listen {
    /// Parses `HOST:PORT`; `localhost:PORT` means 127.0.0.1.
    pub fn parse(text: &str) -> Result<Listen, ListenError> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Listen { addr });
        }
        let unparsable = || ListenError::Unparsable { given: text.to_owned() };
        let port = text.strip_prefix("localhost:").ok_or_else(unparsable)?;
        let port: u16 = port.parse().map_err(|_| unparsable())?;
        Ok(Listen { addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port) })
    }

    /// Whether the address is a loopback one (127.0.0.0/8, ::1).
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_loopback_is_recognised() {
        assert!(Listen::parse("127.0.0.1:8081").unwrap().is_loopback());
        assert!(Listen::parse("127.1.2.3:80").unwrap().is_loopback());
        assert!(Listen::parse("[::1]:8081").unwrap().is_loopback());
        assert_eq!(Listen::parse("localhost:9").unwrap().addr, "127.0.0.1:9".parse().unwrap());
        assert!(!Listen::parse("[::]:8081").unwrap().is_loopback());
        for bad in ["", "8081", "example.net:80", "127.0.0.1", "localhost:x", "127.0.0.1:99999"] {
            assert!(matches!(Listen::parse(bad), Err(ListenError::Unparsable { .. })), "{bad:?}");
        }
    }
}
