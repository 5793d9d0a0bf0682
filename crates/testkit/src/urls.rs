//! Service URLs taken apart (for the helpers' own client calls) and rewritten (another
//! database, password or port).

/// The parts of a service URL the client tools take as separate arguments.
#[derive(Debug, Clone)]
pub struct ServiceUrl {
    /// User name (empty when the URL has none).
    pub user: String,
    /// Password (empty when the URL has none).
    pub password: String,
    /// Host (127.0.0.1 when the URL has none).
    pub host: String,
    /// Port (test URLs always name one).
    pub port: u16,
}

/// Takes a test service URL apart; panics on a URL without a port.
pub fn parse(url: &str) -> ServiceUrl {
    let u = url::Url::parse(url).expect("test URL");
    ServiceUrl {
        user: u.username().to_string(),
        password: u.password().unwrap_or("").to_string(),
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().expect("test URL has a port"),
    }
}

/// The password of a service URL, the needle for "never printed or recorded" checks; panics
/// when it is too short to search for without false matches.
pub fn password_of(url: &str) -> String {
    let p = parse(url).password;
    assert!(p.len() >= 8, "the test service password is too short to search for reliably");
    p
}

/// The URL with its path (the database) replaced.
pub fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

/// The URL with its password replaced.
pub fn with_password(url: &str, pw: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(Some(pw)).unwrap();
    u.to_string()
}

/// The URL without a password (the credential comes from elsewhere, a password file say).
pub fn without_password(url: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(None).unwrap();
    u.to_string()
}

/// The URL with another user and password (a role made for the test).
pub fn with_user(url: &str, user: &str, pw: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(pw)).unwrap();
    u.to_string()
}

/// The URL with its port replaced.
pub fn with_port(url: &str, port: u16) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}

/// A port on loopback that nothing listens on (bound and released at once).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_one_part_and_keeps_the_others() {
        let url = "postgres://lifeboat:secret-pw@127.0.0.1:5432/postgres";
        let p = parse(url);
        assert_eq!(
            (p.user.as_str(), p.password.as_str(), p.host.as_str(), p.port),
            ("lifeboat", "secret-pw", "127.0.0.1", 5432)
        );
        assert_eq!(with_path(url, "db1"), "postgres://lifeboat:secret-pw@127.0.0.1:5432/db1");
        assert_eq!(with_password(url, "other"), "postgres://lifeboat:other@127.0.0.1:5432/postgres");
        assert_eq!(without_password(url), "postgres://lifeboat@127.0.0.1:5432/postgres");
        assert_eq!(with_port(url, 1), "postgres://lifeboat:secret-pw@127.0.0.1:1/postgres");
        assert_eq!(with_user(url, "role", "p@ss:w/o"), "postgres://role:p%40ss%3Aw%2Fo@127.0.0.1:5432/postgres");
        assert_eq!(password_of(url), "secret-pw");
    }
}
