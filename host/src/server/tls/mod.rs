//! Built-in TLS (`wss://`): the rustls configuration built from the
//! certificate and key files, and the handshake each TLS connection makes in
//! its own task before the request head is read.
//!
//! The configuration is held in an [`ArcSwap`]: every handshake takes the
//! one current when it starts, and a reload ([`watch`]) swaps in a new one
//! for the handshakes after it. An open connection keeps the session it
//! made and never notices.

mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::net::TcpStream;
use tokio::sync::watch as signal;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::connection::{self, ConnContext};
use crate::config::{read_pair, ConfigError, PemPair, TlsSettings};
use crate::metrics;

pub use watch::{watch, TlsWatch};

/// The TLS side of the server: where the pair is and the configuration
/// built from it.
#[derive(Debug)]
pub struct Tls {
    /// The configuration new handshakes use; a reload swaps it.
    config: ArcSwap<ServerConfig>,
    /// Where the certificate and key are.
    settings: TlsSettings,
    /// The files' bytes when last tried (loaded or refused), so that an
    /// event that changed neither file is not a reload.
    tried: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// Neither file changed since the last try.
    Unchanged,
    /// The new pair serves new handshakes.
    Loaded,
    /// The new pair was refused; the one before keeps serving.
    Refused(ConfigError),
}

impl Tls {
    /// Read and check the pair: an error names the file and what is wrong
    /// (missing, unreadable, no certificate, no key, a key that does not
    /// match the certificate).
    pub fn load(settings: TlsSettings) -> Result<Tls, ConfigError> {
        let pair = read_pair(&settings)?;
        let tried = Some((pair.cert_bytes.clone(), pair.key_bytes.clone()));
        let config = build(pair, &settings)?;
        Ok(Tls {
            config: ArcSwap::from(config),
            settings,
            tried: Mutex::new(tried),
        })
    }

    /// Where the pair is read from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// An acceptor with the configuration in service now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// Read the pair again; if either file changed, check the new pair and
    /// put it in service, or refuse it and keep the old one. Logged and
    /// counted here.
    pub fn reload(&self) -> Reloaded {
        let pair = match read_pair(&self.settings) {
            Ok(pair) => pair,
            Err(e) => {
                // A file in the middle of being replaced: the next event
                // tries again, whatever it holds then.
                *self.tried_lock() = None;
                return self.refuse(e);
            }
        };
        {
            let mut tried = self.tried_lock();
            let bytes = (pair.cert_bytes.clone(), pair.key_bytes.clone());
            if tried.as_ref() == Some(&bytes) {
                return Reloaded::Unchanged;
            }
            *tried = Some(bytes);
        }
        match build(pair, &self.settings) {
            Ok(config) => {
                self.config.store(config);
                metrics::global().tls_reload("loaded");
                tracing::info!(
                    cert = %self.settings.cert.display(),
                    key = %self.settings.key.display(),
                    "TLS certificate reloaded: new handshakes use the new pair"
                );
                Reloaded::Loaded
            }
            Err(e) => self.refuse(e),
        }
    }

    fn refuse(&self, e: ConfigError) -> Reloaded {
        metrics::global().tls_reload("refused");
        tracing::error!("TLS certificate reload refused, the previous pair keeps serving: {e}");
        Reloaded::Refused(e)
    }

    fn tried_lock(&self) -> std::sync::MutexGuard<'_, Option<(Vec<u8>, Vec<u8>)>> {
        self.tried.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A rustls server configuration for the pair: ring's cryptography, TLS 1.2
/// and 1.3, no client certificates, ALPN `http/1.1` (a WebSocket upgrade is
/// an HTTP/1.1 request).
fn build(pair: PemPair, settings: &TlsSettings) -> Result<Arc<ServerConfig>, ConfigError> {
    let refused = |message: String| ConfigError::TlsPair {
        cert: settings.cert.clone(),
        key: settings.key.clone(),
        message,
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(e.to_string()))?
        .with_no_client_auth()
        // Checks the key against the certificate's public key
        // (`CertifiedKey::from_der`, then `keys_match`).
        .with_single_cert(pair.chain, pair.key)
        .map_err(|e| {
            refused(match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "the key does not match the certificate's public key \
                     (the first certificate in the file must be the server's own)"
                        .into()
                }
                other => other.to_string(),
            })
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve one TCP connection accepted on the TLS listener: the TLS handshake
/// first, then the same path as a plain connection. The handshake and the
/// request head share `limits.handshake_timeout`, so a client that never
/// finishes either gives its slot back in time.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    ctx: Arc<ConnContext>,
    shutdown: signal::Receiver<bool>,
) {
    let deadline = tokio::time::Instant::now() + ctx.admission.limits.handshake_timeout;
    if let Some(stream) = handshake(stream, peer, acceptor, deadline).await {
        connection::serve(stream, peer, ctx, shutdown, deadline).await;
    }
}

/// Answer a TLS connection over the server's limit with 503, when its TLS
/// handshake finishes quickly (within the same bound as the head).
pub(super) async fn refuse_busy(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    ctx: &ConnContext,
) {
    let deadline = tokio::time::Instant::now() + connection::busy_wait(ctx);
    if let Some(stream) = handshake(stream, peer, acceptor, deadline).await {
        connection::refuse_busy(stream, ctx).await;
    }
}

/// The TLS handshake, by `deadline`; a failure or a timeout is logged at
/// debug and counted as a `tls` rejection.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    deadline: tokio::time::Instant,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            metrics::global().rejected("tls");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            metrics::global().rejected("tls");
            None
        }
    }
}
