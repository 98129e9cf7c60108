//! The `[tls]` table: where the certificate and key are and where the TLS
//! listener binds; and reading the pair's PEM files, so a missing,
//! unreadable or empty file is an error naming it before anything serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::ConfigError;

/// The `[tls]` table as written; paths are relative to the config file's
/// folder.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsFile {
    /// The certificate chain (PEM), the server's own certificate first.
    pub cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Address of the TLS listener. Without it, the TLS listener takes
    /// `listen` and no plain listener runs.
    pub listen: Option<String>,
}

/// Built-in TLS, once the file and the command line agree on a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain file (PEM).
    pub cert: PathBuf,
    /// The private key file (PEM).
    pub key: PathBuf,
    /// The TLS listener's own address; `None`: it takes `listen`, and no
    /// plain listener runs.
    pub listen: Option<SocketAddr>,
}

/// A certificate chain and its key as read from their files, not yet
/// checked against each other (that takes a crypto provider: the server's
/// TLS module does it).
#[derive(Debug)]
pub struct PemPair {
    /// The chain, the server's certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate file's bytes, to tell a changed file from a touched one.
    pub cert_bytes: Vec<u8>,
    /// The key file's bytes, likewise.
    pub key_bytes: Vec<u8>,
}

/// The first of cert and key that is missing when the other is given: a
/// lone half of a pair is a mistake, never "TLS off".
pub(super) fn missing_half(cert: bool, key: bool) -> Option<(&'static str, &'static str)> {
    match (cert, key) {
        (true, false) => Some(("key", "cert")),
        (false, true) => Some(("cert", "key")),
        _ => None,
    }
}

/// Read the pair named by `settings`.
pub fn read_pair(settings: &TlsSettings) -> Result<PemPair, ConfigError> {
    let cert_bytes = read_file(&settings.cert, "certificate")?;
    let key_bytes = read_file(&settings.key, "private key")?;
    let pem_error = |path: &Path, e: pem::Error| ConfigError::TlsPem {
        path: path.to_path_buf(),
        message: format!("not valid PEM: {e}"),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&settings.cert, e))?;
    if chain.is_empty() {
        return Err(ConfigError::TlsPem {
            path: settings.cert.clone(),
            message: "no certificate found (expected a PEM block \
                      `-----BEGIN CERTIFICATE-----`)"
                .into(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_bytes) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(ConfigError::TlsPem {
                path: settings.key.clone(),
                message:
                    "no private key found (expected a PEM block `-----BEGIN PRIVATE KEY-----`, \
                          `-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN EC PRIVATE KEY-----`)"
                        .into(),
            })
        }
        Err(e) => return Err(pem_error(&settings.key, e)),
    };
    Ok(PemPair {
        chain,
        key,
        cert_bytes,
        key_bytes,
    })
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::TlsRead {
        path: path.to_path_buf(),
        what,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, cert: &str, key: &str) -> TlsSettings {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert).expect("write cert");
        std::fs::write(&k, key).expect("write key");
        TlsSettings {
            cert: c,
            key: k,
            listen: None,
        }
    }

    #[test]
    fn files_without_the_right_block_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = settings(dir.path(), "", "");
        let e = read_pair(&empty).expect_err("no certificate");
        assert!(matches!(&e, ConfigError::TlsPem { path, .. } if path == &empty.cert));
        assert!(e.to_string().contains("no certificate found"), "{e}");

        // A certificate block but no key block in the key file.
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let no_key = settings(dir.path(), cert, cert);
        let e = read_pair(&no_key).expect_err("no key");
        assert!(matches!(&e, ConfigError::TlsPem { path, .. } if path == &no_key.key));
        assert!(e.to_string().contains("no private key found"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = TlsSettings {
            cert: dir.path().join("absent.pem"),
            key: dir.path().join("key.pem"),
            listen: None,
        };
        let e = read_pair(&s).expect_err("missing");
        assert!(e.to_string().contains("absent.pem"), "{e}");
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    #[test]
    fn paths_are_taken_from_the_file_and_listeners_follow_tls_listen() {
        use crate::config::{Overrides, ServerConfig};
        let file = Path::new("/etc/wasmsock/wasmsock.toml");
        let text = "listen = \"0.0.0.0:80\"\n[tls]\ncert = \"c.pem\"\nkey = \"/k/k.pem\"\n";
        let alone = ServerConfig::parse(file, text, &Overrides::default()).expect("parses");
        let tls = alone.tls.as_ref().expect("tls on");
        assert_eq!(tls.cert, Path::new("/etc/wasmsock/c.pem"));
        assert_eq!(tls.key, Path::new("/k/k.pem"));
        assert!(!alone.plain_listener(), "TLS takes `listen`");
        assert_eq!(alone.tls_listener(), Some(alone.listen));

        let beside = format!("{text}listen = \"0.0.0.0:443\"\n");
        let both = ServerConfig::parse(file, &beside, &Overrides::default()).expect("parses");
        assert!(both.plain_listener());
        assert_eq!(both.tls_listener(), "0.0.0.0:443".parse().ok());

        // The command line wins over the file, and is taken as given.
        let cli = Overrides {
            tls_cert: Some(PathBuf::from("mine.pem")),
            ..Overrides::default()
        };
        let over = ServerConfig::parse(file, text, &cli).expect("parses");
        assert_eq!(over.tls.expect("tls on").cert, Path::new("mine.pem"));

        let none = ServerConfig::parse(file, "", &Overrides::default()).expect("parses");
        assert!(none.tls.is_none() && none.plain_listener());
        assert_eq!(none.tls_listener(), None);
    }

    #[test]
    fn half_a_pair_names_the_other_half() {
        assert_eq!(missing_half(true, false), Some(("key", "cert")));
        assert_eq!(missing_half(false, true), Some(("cert", "key")));
        assert_eq!(missing_half(true, true), None);
        assert_eq!(missing_half(false, false), None);
    }
}
