//! The retailer's HTTPS client of the portal: one TLS connection with the retailer's
//! client certificate, kept alive for the list and the downloads.

use std::sync::Arc;

use bytes::Bytes;
use edi::FileName;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The largest body taken (a file list or a ZIP).
pub const MAX_BODY: usize = 512 * 1024 * 1024;

/// What can go wrong talking to the portal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `https://HOST[:PORT]/PREFIX`.
    #[error("URL {0:?}: https://HOST[:PORT]/PATH/ wanted")]
    Url(String),
    /// A certificate, key or CA that cannot be used.
    #[error("TLS set-up: {0}")]
    Tls(String),
    /// The connection failed or broke.
    #[error("network: {0}")]
    Network(String),
    /// The portal answered with another status than 200.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// The request.
        what: String,
        /// The status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// The list is not the JSON the portal writes.
    #[error("file list: {0}")]
    List(String),
}

fn tls_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::Tls(e.to_string())
}

fn net(e: impl std::fmt::Display) -> ClientError {
    ClientError::Network(e.to_string())
}

/// A listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// Its name.
    pub name: FileName,
    /// Its size, bytes.
    pub size: u64,
}

/// A connection to the portal.
#[derive(Debug)]
pub struct PortalClient {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
    prefix: String,
}

/// `https://HOST[:PORT]/PATH` as (host, port, path ending in `/`).
fn parse_url(url: &str) -> Result<(String, u16, String), ClientError> {
    let bad = || ClientError::Url(url.chars().take(200).collect());
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(']') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            p.parse().map_err(|_| bad())?,
        ),
        _ => (authority.to_owned(), 443),
    };
    if host.is_empty() || path.contains(['?', '#']) {
        return Err(bad());
    }
    let mut path = format!("/{path}");
    if !path.ends_with('/') {
        path.push('/');
    }
    Ok((host, port, path))
}

impl PortalClient {
    /// Connect to the portal at `url` (its `/30min/` prefix) with the retailer's
    /// certificate and key, trusting the portal's CA `ca_pem` only.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn connect(
        url: &str,
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &str,
    ) -> Result<Self, ClientError> {
        let (host, port, prefix) = parse_url(url)?;
        let mut roots = RootCertStore::empty();
        for ca in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(ca.map_err(tls_error)?).map_err(tls_error)?;
        }
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(tls_error)?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .map_err(tls_error)?
            .ok_or_else(|| ClientError::Tls("the key file holds no key".to_owned()))?;
        // ring, as the server (docs/architecture.md).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(tls_error)?;
        let name = ServerName::try_from(host.clone()).map_err(tls_error)?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(net)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(net)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(net)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "portal connection ended");
            }
        });
        let host = if port == 443 {
            host
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            sender,
            host,
            prefix,
        })
    }

    async fn get(&mut self, path_and_query: &str, json: bool) -> Result<Vec<u8>, ClientError> {
        let uri = format!("{}{path_and_query}", self.prefix);
        let mut req = hyper::Request::get(&uri).header(hyper::header::HOST, &self.host);
        if json {
            req = req.header(hyper::header::ACCEPT, "application/json");
        }
        let req = req.body(Empty::new()).map_err(net)?;
        self.sender.ready().await.map_err(net)?;
        let res = self.sender.send_request(req).await.map_err(net)?;
        let status = res.status().as_u16();
        let body = Limited::new(res.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(net)?
            .to_bytes()
            .to_vec();
        if status != 200 {
            return Err(ClientError::Status {
                what: format!("GET {uri}"),
                status,
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        Ok(body)
    }

    /// The retailer's files.
    ///
    /// # Errors
    /// [`ClientError`]; a listed name that is not ours is [`ClientError::List`].
    pub async fn list(&mut self) -> Result<Vec<ListedFile>, ClientError> {
        let body = self.get("FileListReceiver", true).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ClientError::List(e.to_string()))?;
        let list = v
            .as_array()
            .ok_or_else(|| ClientError::List("not an array".to_owned()))?;
        list.iter()
            .map(|f| {
                let name = f["name"]
                    .as_str()
                    .ok_or_else(|| ClientError::List("an entry without a name".to_owned()))?;
                Ok(ListedFile {
                    name: name
                        .parse()
                        .map_err(|e: edi::EdiError| ClientError::List(e.to_string()))?,
                    size: f["size"]
                        .as_u64()
                        .ok_or_else(|| ClientError::List(format!("{name}: no size")))?,
                })
            })
            .collect()
    }

    /// The ZIP named `name`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn file(&mut self, name: &FileName) -> Result<Vec<u8>, ClientError> {
        self.get(&format!("FileReceiver?file={name}"), false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if01_portal_urls_are_https_host_port_and_prefix() {
        assert_eq!(
            parse_url("https://127.0.0.1:8443/30min/").unwrap(),
            ("127.0.0.1".to_owned(), 8443, "/30min/".to_owned())
        );
        assert_eq!(
            parse_url("https://portal.example/30min").unwrap(),
            ("portal.example".to_owned(), 443, "/30min/".to_owned())
        );
        assert_eq!(
            parse_url("https://[::1]:9/x/").unwrap(),
            ("::1".to_owned(), 9, "/x/".to_owned())
        );
        for bad in [
            "http://a/30min/",
            "https:///x",
            "https://a:z/",
            "https://a/x?y",
            "ftp://a",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
