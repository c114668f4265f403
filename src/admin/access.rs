//! Who may read the admin endpoint, decided before it listens: anyone who
//! can connect on loopback; beyond it, only callers with the bearer token
//! from `--admin-token-file` (a non-loopback address without one is
//! refused at start-up, [`check_exposure`]).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Who may read the endpoint.
#[derive(Clone, Default)]
pub struct Access {
    token: Option<Vec<u8>>,
}

/// Never prints the token.
impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_some() {
            "Some(..)"
        } else {
            "None"
        };
        f.debug_struct("Access").field("token", &token).finish()
    }
}

impl Access {
    /// Anyone who can connect (for loopback addresses).
    pub fn open() -> Access {
        Access { token: None }
    }

    /// Callers that send `Authorization: Bearer TOKEN`.
    pub fn bearer(token: impl Into<Vec<u8>>) -> Access {
        Access {
            token: Some(token.into()),
        }
    }

    /// The token in `path` (surrounding whitespace, such as the final
    /// newline, is not part of it).
    pub fn from_token_file(path: &Path) -> Result<Access, TokenFileError> {
        let text = std::fs::read(path).map_err(|source| TokenFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let token = text.trim_ascii();
        if token.is_empty() {
            return Err(TokenFileError::Empty(path.to_path_buf()));
        }
        if token.iter().any(|&b| !b.is_ascii_graphic()) {
            return Err(TokenFileError::NotOneWord(path.to_path_buf()));
        }
        Ok(Access::bearer(token))
    }

    /// Whether a token is required.
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether a request with this `Authorization` header may pass. The
    /// token is compared in constant time, so the time an answer takes does
    /// not tell a caller how much of a guess was right.
    pub(super) fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, credentials)) = value.split_at_checked(7) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer ") && bool::from(credentials.ct_eq(token))
    }
}

/// Whether only this machine can reach `ip`: all of 127.0.0.0/8, `::1`,
/// and IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The start-up rule: the endpoint may listen beyond loopback only with a
/// token. Checked before binding.
pub fn check_exposure(address: SocketAddr, access: &Access) -> Result<(), Exposed> {
    if is_loopback(address.ip()) || access.needs_token() {
        return Ok(());
    }
    Err(Exposed(address))
}

/// Why `--admin-token-file` gives no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file cannot be read.
    #[error("cannot read the admin token file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The file holds only whitespace.
    #[error("the admin token file {} is empty", .0.display())]
    Empty(PathBuf),
    /// The token is not one word of printable ASCII.
    #[error(
        "the admin token in {} has spaces or control characters (a bearer token is one word)",
        .0.display()
    )]
    NotOneWord(PathBuf),
}

/// The admin endpoint would listen beyond loopback with no token: a usage
/// error, refused before anything is bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "--admin {0} is reachable from other machines: give --admin-token-file FILE \
     (callers then send Authorization: Bearer TOKEN), or listen on loopback"
)]
pub struct Exposed(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_all_of_127_8_and_1() {
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.9",
        ] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "::",
            "10.200.0.1",
            "192.168.1.1",
            "::ffff:10.0.0.1",
            "fe80::1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn exposure_needs_a_token_beyond_loopback() {
        let open = Access::open();
        assert!(check_exposure("127.0.0.2:9000".parse().unwrap(), &open).is_ok());
        assert!(check_exposure("0.0.0.0:9000".parse().unwrap(), &open).is_err());
        assert!(check_exposure("[::]:9000".parse().unwrap(), &open).is_err());
        let token = Access::bearer("s3cret");
        assert!(check_exposure("0.0.0.0:9000".parse().unwrap(), &token).is_ok());
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let access = Access::bearer("s3cret");
        assert!(access.allows(Some(b"Bearer s3cret")));
        assert!(access.allows(Some(b"bearer s3cret")));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"Bearer S3cret",
            b"Basic s3cret",
            b"s3cret",
            b"",
        ] {
            assert!(!access.allows(Some(wrong)), "{wrong:?}");
        }
        assert!(!access.allows(None));
        assert!(Access::open().allows(None));
    }

    #[test]
    fn a_token_file_is_trimmed_and_must_hold_one_word() {
        let dir = std::env::temp_dir().join(format!("upcase-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "abc123\n").unwrap();
        assert!(Access::from_token_file(&file)
            .unwrap()
            .allows(Some(b"Bearer abc123")));
        std::fs::write(&file, "\n").unwrap();
        assert!(Access::from_token_file(&file)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        std::fs::write(&file, "two words").unwrap();
        assert!(Access::from_token_file(&file).is_err());
        assert!(Access::from_token_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
