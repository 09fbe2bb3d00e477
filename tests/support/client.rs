//! A minimal HTTPS client for tests: one TLS connection, HTTP/1.1 or HTTP/2
//! chosen by ALPN, like the API server's webhook client.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

/// Which HTTP version to negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 (what the API server uses for service webhooks).
    H1,
    /// HTTP/2.
    H2,
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One open connection.
pub struct Conn {
    sender: Sender,
    /// The server's leaf certificate (DER).
    pub server_cert: Vec<u8>,
    host: String,
}

/// A client certificate and key (PEM).
pub type ClientIdentity = (Vec<u8>, Vec<u8>);

/// Connect to `addr`, trusting `ca_pem`.
pub async fn connect(
    addr: SocketAddr,
    ca_pem: &[u8],
    proto: Proto,
    identity: Option<&ClientIdentity>,
) -> Result<Conn, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let certs =
                CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| e.to_string())?;
            builder.with_client_auth_cert(certs, key).map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![match proto {
        Proto::H1 => b"http/1.1".to_vec(),
        Proto::H2 => b"h2".to_vec(),
    }];
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector.connect(ServerName::IpAddress(addr.ip().into()), tcp).await.map_err(|e| format!("TLS: {e}"))?;
    let (_, session) = tls.get_ref();
    let negotiated = session.alpn_protocol().map(<[u8]>::to_vec);
    let server_cert = session.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default();
    let io = TokioIo::new(tls);
    let sender = match proto {
        Proto::H1 => {
            assert_eq!(negotiated.as_deref(), Some(&b"http/1.1"[..]), "ALPN http/1.1");
            let (sender, conn) = http1::handshake(io).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Sender::H1(sender)
        }
        Proto::H2 => {
            assert_eq!(negotiated.as_deref(), Some(&b"h2"[..]), "ALPN h2");
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Sender::H2(sender)
        }
    };
    Ok(Conn { sender, server_cert, host: addr.to_string() })
}

impl Conn {
    /// Send one request; returns (status, body).
    pub async fn request(&mut self, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.host))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = match &mut self.sender {
            Sender::H1(sender) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await.map_err(|e| e.to_string())?
            }
            Sender::H2(sender) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await.map_err(|e| e.to_string())?
            }
        };
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
        Ok((status, body))
    }

    /// POST a body to `path`.
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        self.request("POST", path, body).await
    }
}

/// GET a plain-HTTP admin path; returns (status, body).
pub async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{addr}{path}")).body(Full::new(Bytes::new())).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A raw TLS stream (HTTP/1.1 by ALPN) for hand-written requests.
pub async fn raw_tls(addr: SocketAddr, ca_pem: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    raw_tls_alpn(addr, ca_pem, b"http/1.1").await
}

/// A raw TLS stream offering one ALPN protocol.
pub async fn raw_tls_alpn(addr: SocketAddr, ca_pem: &[u8], alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::IpAddress(addr.ip().into()), tcp).await.unwrap()
}

/// Read a whole HTTP/1.1 response (the server closes or sends Content-Length).
pub async fn read_response(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
            });
            if let Some(length) = length
                && buf.len() >= end + 4 + length
            {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}
