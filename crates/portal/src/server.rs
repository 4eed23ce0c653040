//! The portal's HTTPS interface for retailers, shaped like the utilities'
//! data-provision systems (`../shared/spec/edi.md` §3):
//!
//! - `GET /30min/FileListReceiver`: the retailer's files — with `Accept:
//!   application/json` an array of `{"name", "size", "updated"}`, otherwise the
//!   utilities' `<comment>` list of `rfilenameN:"…",rfilesizeN:"…"` pairs;
//! - `GET /30min/FileReceiver?file=NAME`: the ZIP.
//!
//! TLS asks every client for a certificate and requires none at the handshake (the
//! operations pages will use a login instead). The handshake still proves the client
//! holds the key of the certificate it presents; whether the certificate is ours is
//! judged per request ([`Lenient`]): a `/30min/` request needs a certificate that chains
//! to our CA, is in its validity, names a retailer and is not revoked — checked at every
//! request, so a revocation also ends the next request of a connection already open.
//! None, unknown (another CA, expired), another kind, or revoked: 403 and a log line. A name that is not a W4 file name of ours (a path,
//! an encoded traversal, anything odd) is 400; a file the retailer does not have is 404,
//! the same answer whether or not another retailer has a file of that name. Every
//! request, answered or refused, goes into the audit (who, what, when, result).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{SecondsFormat, Utc};
use edi::{FileName, PartyCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, ServerConfig};
use tower::ServiceExt as _;

use crate::store::{AuditEntry, PortalStore};
use crate::tls::{Authority, TlsError};

/// The longest query a request may carry (`file=` and a 28-character name, with room).
const MAX_QUERY: usize = 128;

/// What the portal serves from.
#[derive(Debug)]
pub struct Portal<S> {
    /// The store of published files and the audit.
    pub store: Mutex<S>,
    /// The certificate directory (revocations are read from it at every request).
    pub authority: Authority,
    /// The operations pages' sessions and registry.
    pub ops: crate::ops::Ops,
}

/// The certificate a connection presented, as read at its handshake.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The certificate's serial (lowercase hex) and subject, if one was presented.
    cert: Option<ClientCert>,
}

#[derive(Debug, Clone)]
struct ClientCert {
    serial: String,
    common_name: Option<String>,
    retailer_unit: bool,
    /// Whether it chains to our CA and was in its validity at the handshake.
    ours: bool,
}

/// The client verifier of the handshake: it checks that the client holds the key of
/// the certificate it presents (the handshake's signature, by `strict`) and lets any
/// certificate through, so that one not of our CA is refused with a 403 and an audit
/// record (by [`Client::of`] with `strict`) rather than a handshake alert nobody sees.
#[derive(Debug)]
pub struct Lenient {
    strict: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for Lenient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.strict.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.strict.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.strict.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.strict.supported_verify_schemes()
    }
}

/// The portal's TLS: the server configuration and the verifier of our CA's
/// certificates each connection's client certificate is judged by.
#[derive(Debug, Clone)]
pub struct PortalTls {
    /// For the acceptor.
    pub config: Arc<ServerConfig>,
    /// Our CA's client verifier.
    pub strict: Arc<dyn ClientCertVerifier>,
}

impl Client {
    /// The client of a connection that presented `certs` (its chain, leaf first), the
    /// chain judged by `strict` at `now`.
    #[must_use]
    pub fn of(
        certs: Option<&[CertificateDer<'_>]>,
        strict: &dyn ClientCertVerifier,
        now: UnixTime,
    ) -> Self {
        let cert = certs.and_then(|chain| {
            let (der, rest) = chain.split_first()?;
            let ours = strict.verify_client_cert(der, rest, now).is_ok();
            Some((der, ours))
        });
        let cert = cert.and_then(|(der, ours)| {
            let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
            let serial = x
                .raw_serial()
                .iter()
                .skip_while(|b| **b == 0)
                .map(|b| format!("{b:02x}"))
                .collect();
            let subject = x.subject();
            let common_name = subject
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_owned);
            let retailer_unit = subject
                .iter_organizational_unit()
                .any(|a| a.as_str().ok() == Some("retailer"));
            Some(ClientCert {
                serial,
                common_name,
                retailer_unit,
                ours,
            })
        });
        Self { cert }
    }

    fn who(&self) -> String {
        self.cert
            .as_ref()
            .and_then(|c| c.common_name.clone())
            .map_or_else(|| "-".to_owned(), |n| n.chars().take(32).collect())
    }
}

/// The TLS of the portal: its certificate from `authority` (made for `names` the first
/// time), client certificates asked for, not required, judged per request.
///
/// # Errors
/// [`TlsError`].
pub fn server_config(authority: &Authority, names: &[String]) -> Result<PortalTls, TlsError> {
    let bad = |e: &dyn std::fmt::Display| TlsError::Certificate(e.to_string());
    // ring, not aws-lc-rs: aws-lc-rs builds a C library with cmake (minutes on two cores,
    // a tool more to install) for post-quantum key exchange, which the retailers' side
    // of this interface, classic TLS clients, does not use (docs/architecture.md).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert_pem, key_pem) = authority.server_identity(names)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| bad(&e))?
        .ok_or_else(|| TlsError::Certificate("server.key.pem holds no key".to_owned()))?;
    let mut roots = RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut authority.ca_pem()?.as_bytes()) {
        roots.add(ca.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    let strict = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(&e))?;
    let lenient = Arc::new(Lenient {
        strict: strict.clone(),
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_client_cert_verifier(lenient)
        .with_single_cert(chain, key)
        .map_err(|e| bad(&e))?;
    Ok(PortalTls {
        config: Arc::new(config),
        strict,
    })
}

/// The router, every request audited.
pub fn router<S: PortalStore + Send + 'static>(portal: Arc<Portal<S>>) -> Router {
    Router::new()
        .route("/30min/FileListReceiver", get(file_list::<S>))
        .route("/30min/FileReceiver", get(file_receiver::<S>))
        .merge(crate::ops::routes::<Portal<S>>())
        .layer(middleware::from_fn_with_state(portal.clone(), audit::<S>))
        .with_state(portal)
}

/// Serve `router` over TLS on `listener` until `shutdown` resolves; each connection's
/// requests carry its [`Client`].
///
/// # Errors
/// The listener's accept errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: PortalTls,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    let strict = tls.strict;
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let (acceptor, router, strict) = (acceptor.clone(), router.clone(), strict.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
            };
            let client = Client::of(
                tls.get_ref().1.peer_certificates(),
                strict.as_ref(),
                UnixTime::now(),
            );
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(Body::new);
                    req.extensions_mut().insert(client.clone());
                    router.clone().oneshot(req)
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

/// The retailer a request is from: a certificate of a retailer, not revoked.
fn retailer<S>(
    portal: &Portal<S>,
    client: &Client,
) -> Result<PartyCode, (StatusCode, &'static str)> {
    let forbidden = |why| (StatusCode::FORBIDDEN, why);
    let cert = client
        .cert
        .as_ref()
        .ok_or(forbidden("a retailer certificate is required"))?;
    if !cert.ours {
        return Err(forbidden(
            "certificate not of this portal's CA, or out of its validity",
        ));
    }
    if !cert.retailer_unit {
        return Err(forbidden("not a retailer certificate"));
    }
    let code: PartyCode = cert
        .common_name
        .as_deref()
        .and_then(|n| n.parse().ok())
        .ok_or(forbidden("not a retailer certificate"))?;
    match portal.authority.is_revoked(&cert.serial) {
        Ok(false) => Ok(code),
        Ok(true) => Err(forbidden("certificate revoked")),
        Err(e) => {
            tracing::error!(error = %e, "revocations unreadable: refusing every certificate");
            Err(forbidden("certificate status unknown"))
        }
    }
}

fn refuse((status, why): (StatusCode, &'static str)) -> Response {
    if status == StatusCode::FORBIDDEN {
        tracing::warn!(why, "portal: request refused");
    }
    (status, format!("{why}\n")).into_response()
}

fn store_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "portal: store failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "store failed\n").into_response()
}

async fn file_list<S: PortalStore + Send + 'static>(
    State(portal): State<Arc<Portal<S>>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let code = match retailer(&portal, &client) {
        Ok(c) => c,
        Err(r) => return refuse(r),
    };
    let files = match portal.store.lock().map(|s| s.files(&code)) {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return store_failed(&e),
        Err(_) => return store_failed(&"lock poisoned"),
    };
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if json {
        let list: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name.to_string(),
                    "size": f.size,
                    "updated": f.updated.with_timezone(&edi::message::JST).to_rfc3339_opts(SecondsFormat::Secs, false),
                })
            })
            .collect();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::Value::Array(list).to_string(),
        )
            .into_response();
    }
    let pairs: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "rfilename{n}:\"{}\",rfilesize{n}:\"{}\"",
                f.name,
                f.size,
                n = i + 1
            )
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<html><body><comment>{}</comment></body></html>\n",
            pairs.join(",")
        ),
    )
        .into_response()
}

/// The file named by a query of exactly `file=NAME`.
fn file_of(query: Option<&str>) -> Result<FileName, (StatusCode, &'static str)> {
    let bad = |why| (StatusCode::BAD_REQUEST, why);
    let q = query.ok_or(bad("file= is required"))?;
    if q.len() > MAX_QUERY {
        return Err(bad("query too long"));
    }
    let name = q
        .strip_prefix("file=")
        .ok_or(bad("the query is file=NAME only"))?;
    // A name is letters, digits and a dot: anything encoded, any separator, is refused
    // as it stands, never decoded first.
    name.parse().map_err(|_| bad("not a file name of ours"))
}

async fn file_receiver<S: PortalStore + Send + 'static>(
    State(portal): State<Arc<Portal<S>>>,
    Extension(client): Extension<Client>,
    RawQuery(query): RawQuery,
) -> Response {
    let code = match retailer(&portal, &client) {
        Ok(c) => c,
        Err(r) => return refuse(r),
    };
    let name = match file_of(query.as_deref()) {
        Ok(n) => n,
        Err(r) => return refuse(r),
    };
    match portal.store.lock().map(|s| s.file(&code, &name)) {
        Ok(Ok(Some(zip))) => {
            let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or(HeaderValue::from_static("attachment"));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/zip"),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                zip,
            )
                .into_response()
        }
        // The same answer whether another retailer has a file of this name or none does.
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        Ok(Err(e)) => store_failed(&e),
        Err(_) => store_failed(&"lock poisoned"),
    }
}

/// Every request into the audit with its answer.
async fn audit<S: PortalStore + Send + 'static>(
    State(portal): State<Arc<Portal<S>>>,
    req: Request,
    next: Next,
) -> Response {
    let client = req
        .extensions()
        .get::<Client>()
        .cloned()
        .unwrap_or_default();
    let mut what = format!("{} {}", req.method(), req.uri().path());
    if let Some(q) = req.uri().query() {
        what.push('?');
        what.push_str(q);
    }
    let what: String = what.chars().take(200).collect();
    let response = next.run(req).await;
    // The operations pages name their user; the retailer interface, its certificate.
    let who = response
        .extensions()
        .get::<crate::ops::AuditUser>()
        .map_or_else(
            || client.who(),
            |u| format!("ops:{}", u.0.chars().take(64).collect::<String>()),
        );
    let entry = AuditEntry {
        at: Utc::now(),
        who,
        serial: client.cert.as_ref().map(|c| c.serial.clone()),
        what,
        result: response.status().as_u16(),
    };
    let recorded = portal.store.lock().map(|mut s| s.record_audit(&entry));
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!(?entry, "portal: audit record not kept");
    }
    response
}
