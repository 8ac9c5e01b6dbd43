//! A minimal HTTP/1.1 client: one GET on a fresh connection. Readiness
//! probes use it against backends, and `supervise health` and `status`
//! against a running supervise. Only `http://` URLs.

use std::fmt;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The most body bytes a GET reads; health reports are far smaller.
const MAX_BODY: usize = 1024 * 1024;

/// Why a GET failed.
#[derive(Debug)]
pub enum GetError {
    /// The URL is not `http://host[:port]/path`.
    BadUrl,
    Connect(std::io::Error),
    Http(hyper::Error),
    /// The body was larger than 1 MiB or broke off.
    Body,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::BadUrl => f.write_str("not an http:// URL with a host"),
            GetError::Connect(error) => write!(f, "connect failed: {error}"),
            GetError::Http(error) => write!(f, "HTTP request failed: {error}"),
            GetError::Body => f.write_str("response body too large or cut off"),
        }
    }
}

impl std::error::Error for GetError {}

/// GETs `url`; returns the status and, when `read_body`, the body.
pub async fn get(url: &http::Uri, read_body: bool) -> Result<(http::StatusCode, Bytes), GetError> {
    if url.scheme_str() != Some("http") {
        return Err(GetError::BadUrl);
    }
    let authority = url.authority().ok_or(GetError::BadUrl)?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(GetError::Connect)?;

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(GetError::Http)?;
    tokio::spawn(connection);

    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .header(
            http::header::USER_AGENT,
            concat!("supervise/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|_| GetError::BadUrl)?;
    let response = sender.send_request(request).await.map_err(GetError::Http)?;

    let status = response.status();
    if !read_body {
        return Ok((status, Bytes::new()));
    }
    let body = Limited::new(response.into_body(), MAX_BODY).collect().await;
    Ok((status, body.map_err(|_| GetError::Body)?.to_bytes()))
}
