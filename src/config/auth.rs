//! The `auth:` section: the provider that signs users in, the client
//! registered with it, the site's public URL, the session, the accepted
//! audiences of bearer tokens, the identity headers' prefix, the CA
//! bundle and the clock leeway, read into an [`AuthSpec`] with the
//! defaults of the product contract filled in. The provider's own keys
//! are read by the sibling module `provider`, the session by `session`.
//!
//! The client secret is never quoted in a message, not even as written;
//! it is held as a [`Secret`], whose `Debug` is redacted. The `dev`
//! provider signs anyone in, so it is refused on a listener that other
//! machines can reach, and warned about everywhere else.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::Uri;
use http::HeaderName;

use super::error::Report;
use super::fields::{duration, existing_path, quoted, text, text_list, PathKind, Section};
use super::provider::{self, Keys, Kind, CLIENT_ID, CLIENT_SECRET, PUBLIC_URL};
use super::proxy::Listener;
use super::session;
use super::types::{AuthSpec, Secret};
use super::web;
use super::yaml::Node;

const KEYS: [&str; 13] = [
    "provider",
    "tenant_id",
    "authority",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "public_url",
    "session",
    "audiences",
    "header_prefix",
    "ca_bundle",
    "leeway",
];

const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
const OPENID: &str = "openid";
const DEFAULT_HEADER_PREFIX: &str = "X-Auth-Request-";
const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// What reading `auth` needs from outside its section.
pub(super) struct Context<'a> {
    /// The config file's folder, which a relative `ca_bundle` starts from.
    pub(super) base_dir: &'a Path,
    /// The proxy's listener, when its address is valid.
    pub(super) listener: Option<Listener>,
}

/// The settings that do not depend on the provider.
struct Settings {
    scopes: Vec<String>,
    header_prefix: String,
    ca_bundle: Option<PathBuf>,
    leeway: Duration,
}

/// Reads the value of `auth:`; `None` after reporting what is wrong.
pub(super) fn read(
    node: &Node,
    path: &str,
    context: &Context,
    report: &mut Report,
) -> Option<AuthSpec> {
    let what = "a mapping with `provider`, `public_url` and `session`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let kind = section.required("provider", report, provider::kind);
    let keys = Keys {
        section: &section,
        kind,
    };
    let provider = provider::read(&keys, report);
    let client_id = keys.read(&CLIENT_ID, report, client_id);
    let client_secret = keys.read(&CLIENT_SECRET, report, client_secret);
    let public_url = public_url(&keys, context, report);
    let session = section.required("session", report, session::read);
    let settings = settings(&section, context, report);
    let audiences = audiences(&section, client_id.as_ref(), report);
    check_dev(&keys, context, report);
    let settings = settings?;
    Some(AuthSpec {
        provider: provider?,
        client_id: client_id?.unwrap_or_default(),
        client_secret: client_secret?,
        scopes: settings.scopes,
        public_url: public_url?,
        session: session?,
        audiences: audiences?,
        header_prefix: settings.header_prefix,
        ca_bundle: settings.ca_bundle,
        leeway: settings.leeway,
    })
}

/// The settings every provider takes, each with its default.
fn settings(section: &Section, context: &Context, report: &mut Report) -> Option<Settings> {
    let scopes = section.read_or("scopes", defaults(&DEFAULT_SCOPES), report, scopes);
    let prefix = DEFAULT_HEADER_PREFIX.to_string();
    let header_prefix = section.read_or("header_prefix", prefix, report, header_prefix);
    let ca_bundle = section.read_or("ca_bundle", None, report, |node, path, report| {
        existing_path(node, path, context.base_dir, PathKind::File, report).map(Some)
    });
    let leeway = section.read_or("leeway", DEFAULT_LEEWAY, report, leeway);
    Some(Settings {
        scopes: scopes?,
        header_prefix: header_prefix?,
        ca_bundle: ca_bundle?,
        leeway: leeway?,
    })
}

fn defaults(values: &[&str]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// The application (client) id: text without blanks or control characters.
fn client_id(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "the application (client) id", report)?;
    let value = &scalar.value;
    let problem = if value.is_empty() {
        "is empty; set the application (client) id registered with the provider"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "holds a space or control character, which no client id has"
    } else {
        return Some(value.clone());
    };
    report.error(
        node.at,
        path,
        format!("{} {problem}", quoted(scalar.shown())),
    );
    None
}

/// The client secret; nothing about its value is ever said but that it
/// is empty.
fn client_secret(node: &Node, path: &str, report: &mut Report) -> Option<Secret> {
    let scalar = text(node, path, "the client secret", report)?;
    if !scalar.value.is_empty() {
        return Some(Secret(scalar.value.clone()));
    }
    let message = "the client secret is empty; set the secret registered with the provider";
    report.error(node.at, path, message);
    None
}

/// `public_url`, or for `dev` without one, the listener on loopback.
fn public_url(keys: &Keys, context: &Context, report: &mut Report) -> Option<Uri> {
    let url = keys.read(&PUBLIC_URL, report, |node, path, report| {
        provider::url(node, path, report, web::origin)
    })?;
    match (url, keys.kind) {
        (Some(url), _) => Some(url),
        (None, Some(Kind::Dev)) => dev_public_url(context.listener?),
        // Needed but missing (reported), or the provider is in error.
        (None, _) => None,
    }
}

/// `http://127.0.0.1:PORT/` for the listener's port (`https` when it
/// serves TLS), or the listener's own address when that is another
/// loopback one (`[::1]`, `127.0.0.2`). A listener on port 0 gives port
/// 0: the port is known only once bound.
fn dev_public_url(listener: Listener) -> Option<Uri> {
    let scheme = if listener.https { "https" } else { "http" };
    let port = listener.address.port();
    let text = match listener.address.ip().to_canonical() {
        IpAddr::V4(ip) if ip.is_loopback() => format!("{scheme}://{ip}:{port}/"),
        IpAddr::V6(ip) if ip.is_loopback() => format!("{scheme}://[{ip}]:{port}/"),
        _ => format!("{scheme}://127.0.0.1:{port}/"),
    };
    // An IP address and a port always make a valid URL.
    text.parse().ok()
}

/// A list of scopes, with `openid` put first when it is missing: without
/// it there is no ID token.
fn scopes(node: &Node, path: &str, report: &mut Report) -> Option<Vec<String>> {
    let what = (
        "a list of scopes such as `[openid, email, profile]`",
        "a scope",
    );
    let mut scopes = text_list(node, path, what, scope, report)?;
    if !scopes.iter().any(|scope| scope == OPENID) {
        scopes.insert(0, OPENID.to_string());
    }
    Some(scopes)
}

/// A scope token (RFC 6749, section 3.3): printable ASCII but blanks,
/// `"` and `\`.
fn scope(text: &str) -> Result<String, &'static str> {
    let valid = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\';
    if !text.is_empty() && text.bytes().all(valid) {
        return Ok(text.to_string());
    }
    Err("is not a scope; a scope is one word of printable ASCII, without `\"` or `\\`")
}

/// `audiences`, or by default the client id and `api://` before it.
fn audiences(
    section: &Section,
    client_id: Option<&Option<String>>,
    report: &mut Report,
) -> Option<Vec<String>> {
    if let Some((node, path)) = section.get("audiences") {
        return audience_list(node, &path, report);
    }
    match client_id? {
        Some(id) => Some(vec![id.clone(), format!("api://{id}")]),
        None => Some(Vec::new()),
    }
}

/// A non-empty list: an empty one would leave no bearer token valid, and
/// could be read by mistake as "any audience".
fn audience_list(node: &Node, path: &str, report: &mut Report) -> Option<Vec<String>> {
    let what = ("a list of audiences", "an audience");
    let audiences = text_list(node, path, what, audience, report)?;
    if !audiences.is_empty() {
        return Some(audiences);
    }
    let message = "list at least one audience, or leave `audiences` out for the default: \
                   the client id and `api://<client id>`";
    report.error(node.at, path, message);
    None
}

fn audience(text: &str) -> Result<String, &'static str> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("is not an audience; write the token's `aud` value, without blanks");
    }
    Ok(text.to_string())
}

/// A prefix of header names ending in `-`, such as `X-Auth-Request-`.
fn header_prefix(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(
        node,
        path,
        "a header name prefix such as `X-Auth-Request-`",
        report,
    )?;
    let value = &scalar.value;
    let problem = if !value.ends_with('-') {
        "does not end with `-`; identity headers are this prefix and a name, \
         such as `X-Auth-Request-Email`"
    } else if value.len() < 2 || HeaderName::from_bytes(value.as_bytes()).is_err() {
        "is not the start of a valid header name; use letters, digits and `-`"
    } else {
        return Some(value.clone());
    };
    report.error(
        node.at,
        path,
        format!("{} {problem}", quoted(scalar.shown())),
    );
    None
}

/// A duration of at most [`MAX_LEEWAY`].
fn leeway(node: &Node, path: &str, report: &mut Report) -> Option<Duration> {
    let value = duration(node, path, report)?;
    if value <= MAX_LEEWAY {
        return Some(value);
    }
    let message = "is longer than 5m, the most clock skew allowed: a longer one would \
                   accept tokens long expired";
    report.error(node.at, path, message);
    None
}

/// `dev` signs anyone in: an error on a listener other machines reach,
/// a warning everywhere.
fn check_dev(keys: &Keys, context: &Context, report: &mut Report) {
    if keys.kind != Some(Kind::Dev) {
        return;
    }
    let Some((node, path)) = keys.section.get("provider") else {
        return;
    };
    let warning = "dev sign-in is not for production: anyone can sign in as anyone, \
                   with any roles";
    report.warn(node.at, &path, warning);
    let Some(listener) = context.listener else {
        return;
    };
    if listener.address.ip().to_canonical().is_loopback() {
        return;
    }
    let message = format!(
        "the dev provider signs anyone in; it only runs on a loopback listener, and \
         `proxy.listen` on line {} is not one: listen on `127.0.0.1:PORT`",
        report.line_of(listener.at)
    );
    report.error(node.at, &path, message);
}
