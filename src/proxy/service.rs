//! What happens to one request: health, routing on the normalised path,
//! then the route's action (answer, redirect or forward), with the access
//! log record filled in along the way.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::auth::gate::{Access, Auth};
use crate::auth::identity::{Identity, IdentityHeaders};
use crate::config::{IpNet, RouteAction, RouteSpec};
use crate::health::HealthView;
use crate::metrics::Metrics;
use crate::proxy::access::{AccessRecord, RequestIds};
use crate::proxy::body::ProxyBody;
use crate::proxy::error::{answer, ProxyError};
use crate::proxy::forward::{Holds, Upstream};
use crate::proxy::headers::{self, Origin, X_REQUEST_ID};
use crate::proxy::path::{check_forwardable, normalize};
use crate::proxy::route::Router;

/// Everything a request needs, shared by every connection.
#[derive(Debug)]
pub struct Service {
    pub router: Router,
    pub upstreams: HashMap<String, Arc<Upstream>>,
    pub health_path: String,
    pub health: HealthView,
    pub trusted: Vec<IpNet>,
    /// Whether the listener speaks TLS, for `X-Forwarded-Proto`.
    pub tls: bool,
    pub ids: RequestIds,
    pub holds: Holds,
    /// Sign-in, when the file has an `auth:` section.
    pub auth: Option<Arc<Auth>>,
    /// The identity headers; client-sent ones are removed on every route,
    /// with or without sign-in.
    pub identity_headers: IdentityHeaders,
    pub metrics: Arc<Metrics>,
    /// Where the metrics are answered; `None` when turned off.
    pub metrics_path: Option<String>,
}

impl Service {
    /// Answers one request; never fails, since every error becomes an
    /// HTTP answer here.
    pub async fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let mut record = AccessRecord {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            client: peer.ip(),
            status: StatusCode::OK,
            request_id: self.ids.pick(request.headers().get(&X_REQUEST_ID)),
            upstream: None,
            user: None,
            bytes: 0,
            started: Instant::now(),
            route: None,
            metrics: Some(self.metrics.clone()),
        };
        let response = match self.dispatch(peer, request, &mut record).await {
            Ok(response) => response,
            Err(error) => {
                if let Some((upstream, kind)) = error.upstream_kind() {
                    self.metrics.upstream_error(upstream, kind);
                }
                error.into_response()
            }
        };
        record.status = response.status();
        Ok(response.map(|body| body.with_record(record)))
    }

    async fn dispatch(
        &self,
        peer: SocketAddr,
        request: Request<Incoming>,
        record: &mut AccessRecord,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let raw = request.uri().path();
        check_forwardable(raw).map_err(ProxyError::BadPath)?;
        let path = normalize(raw).map_err(ProxyError::BadPath)?;
        if path == self.health_path {
            return Ok(self.health.response());
        }
        if self.metrics_path.as_deref() == Some(path.as_str()) {
            return Ok(self.metrics_response());
        }
        if let (Some(auth), true) = (&self.auth, path.starts_with("/auth/")) {
            return auth
                .endpoint(&path, request)
                .await
                .ok_or(ProxyError::NoRoute);
        }
        let (index, route) = self.router.lookup(&path).ok_or(ProxyError::NoRoute)?;
        record.route = Some(index);
        tracing::debug!(%path, route = route.line, "routed");

        let identity = match &self.auth {
            None => None,
            Some(auth) => match auth.check(route.auth, &route.allow, &request) {
                Access::Pass(identity) => identity,
                Access::Refuse(refusal) => return Ok(refusal.into_response()),
            },
        };
        record.user = identity.as_ref().map(|i| i.subject.clone());

        let mut response = match &route.action {
            RouteAction::Respond {
                status,
                body,
                headers,
            } => respond(*status, body, headers),
            RouteAction::Redirect { to, status } => redirect(to, *status),
            RouteAction::Upstream(name) => {
                let upstream = self.upstreams.get(name).ok_or(ProxyError::NoRoute)?;
                record.upstream = Some(upstream.name.clone());
                self.forward(upstream, route, peer, request, identity, record)
                    .await?
            }
        };
        headers::apply(&route.header_down, response.headers_mut());
        Ok(response)
    }

    /// Rewrites the request for the upstream and sends it.
    async fn forward(
        &self,
        upstream: &Upstream,
        route: &RouteSpec,
        peer: SocketAddr,
        mut request: Request<Incoming>,
        identity: Option<Arc<Identity>>,
        record: &AccessRecord,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let upgrade =
            request.version() == Version::HTTP_11 && headers::is_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();

        let host = parts
            .headers
            .get(header::HOST)
            .cloned()
            .or_else(|| authority(&parts.uri));
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        let origin = Origin {
            peer: peer.ip(),
            tls: self.tls,
            trusted: &self.trusted,
        };
        headers::set_forwarded(&mut parts.headers, origin, host.as_ref());
        parts
            .headers
            .insert(X_REQUEST_ID, record.request_id.clone());
        self.set_identity(&mut parts.headers, identity.as_deref());
        headers::apply(&route.header_up, &mut parts.headers);
        if let Some(host) = upstream.host.clone().or(host) {
            parts.headers.insert(header::HOST, host);
        }

        // The upstream gets the path and query exactly as the client sent
        // them; only the routing decision used the normalised path.
        parts.uri = origin_form(&parts.uri);
        parts.version = Version::HTTP_11;
        let request = Request::from_parts(parts, ProxyBody::stream(body));

        let Some(client_upgrade) = client_upgrade else {
            // Boxed for the same reason as the request's own future (see
            // `server`): it is large, and copying it showed in profiles.
            let mut response = Box::pin(upstream.forward(request, &self.holds)).await?;
            headers::remove_hop_by_hop(response.headers_mut(), false);
            return Ok(response);
        };
        let mut response = upstream.forward_upgrade(request).await?;
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        headers::remove_hop_by_hop(response.headers_mut(), switching);
        if switching {
            splice(
                client_upgrade,
                hyper::upgrade::on(&mut response),
                upstream.name.clone(),
            );
        }
        Ok(response)
    }
}

impl Service {
    fn metrics_response(&self) -> Response<ProxyBody> {
        let sign_ins = self.auth.as_ref().map(|auth| auth.sign_ins());
        let text = self.metrics.render(&self.health.processes, sign_ins);
        answer(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            text,
        )
    }

    /// Removes whatever a client sent in the identity headers' family, and
    /// supervise's own cookies, then says who the user is, if anyone.
    fn set_identity(&self, headers: &mut HeaderMap, identity: Option<&Identity>) {
        self.identity_headers.strip(headers);
        if let Some(auth) = &self.auth {
            auth.sessions.strip_cookies(headers);
        }
        if let Some(identity) = identity {
            self.identity_headers.set(headers, identity);
        }
    }
}

/// Joins the client's and the upstream's upgraded connections and copies
/// bytes both ways until either side closes.
fn splice(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade, name: Arc<str>) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(upstream = %name, %error, "protocol switch failed");
                return;
            }
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut upstream = hyper_util::rt::TokioIo::new(upstream);
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(upstream = %name, %error, "upgraded connection ended");
        }
    });
}

/// The Host an HTTP/2 request names in its URI instead of a header.
fn authority(uri: &Uri) -> Option<HeaderValue> {
    uri.authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
}

/// `/path?query` of `uri`, as HTTP/1.1 sends it to an origin server.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| "/".parse().expect("valid path"));
    Uri::from(path)
}

fn respond(
    status: StatusCode,
    body: &str,
    headers: &[(header::HeaderName, HeaderValue)],
) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body.to_owned()));
    *response.status_mut() = status;
    let map = response.headers_mut();
    if !body.is_empty() {
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    for (name, value) in headers {
        map.insert(name.clone(), value.clone());
    }
    response
}

fn redirect(to: &str, status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = status;
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
