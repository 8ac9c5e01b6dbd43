//! `proxy.routes`: each route's path pattern, its one action (`upstream`,
//! `respond` or `redirect`), its sign-in mode, its `allow` rule (read by
//! the sibling module `allow`) and its header rules, read into
//! [`RouteSpec`]s; and the warnings about routes that can never be used.
//!
//! Sign-in is secure by default: in a file with an `auth` section a route
//! without `auth:` needs a signed-in user, and `/auth/` is reserved for
//! supervise's own sign-in endpoints. Without one, every route is public.
//!
//! Route paths are compared with the normalised request path (decoded,
//! `//` merged, `.` and `..` resolved), so a pattern that is not itself
//! in that form could never match and is refused, saying why. Choosing
//! the route for a request is the proxy's router's job, not this one's.

use http::StatusCode;

use super::allow;
use super::error::Report;
use super::fields::{count, list, quoted, text, Section};
use super::headers::{self, Headers};
use super::scalar::{Kind, Scalar};
use super::types::{AllowRule, AuthMode, HeaderRules, PathPattern, RouteAction, RouteSpec};
use super::yaml::{child_path, item_path, Node, NodeKind};
use crate::proxy::path::normalize;

const KEYS: [&str; 8] = [
    "path",
    "upstream",
    "respond",
    "redirect",
    "auth",
    "allow",
    "header_up",
    "header_down",
];
const ACTIONS: [&str; 3] = ["upstream", "respond", "redirect"];
const RESPOND_KEYS: [&str; 3] = ["status", "body", "headers"];
const REDIRECT_KEYS: [&str; 2] = ["to", "status"];
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
const AUTH_MODES: &str = "public, optional or required";

/// Where supervise answers sign-in itself when the file has an `auth`
/// section: `/auth/oauth2/...`, `/auth/dev`, `/auth/logout`, `/auth/whoami`.
const AUTH_PREFIX: &str = "/auth/";

/// What reading routes needs from the rest of the file.
pub(super) struct Context<'a> {
    /// The names under `proxy.upstreams`, valid or not.
    pub(super) upstreams: &'a [String],
    /// Whether the file has an `auth` section, which sign-in needs.
    pub(super) has_auth: bool,
    /// The health path, when it is valid, for the shadowing warning.
    pub(super) health_path: Option<&'a str>,
}

/// A route read without errors, and where its path is written.
struct Placed {
    spec: RouteSpec,
    path_at: usize,
    path_key: String,
}

/// Reads the value of `routes:`, a non-empty list.
pub(super) fn read(
    node: &Node,
    path: &str,
    context: &Context,
    report: &mut Report,
) -> Option<Vec<RouteSpec>> {
    if is_empty(node) {
        report.error(node.at, path, "`routes` must list at least one route");
        return None;
    }
    let items = list(node, path, "a list of routes", report)?;
    let read_one = |(index, item)| route(item, &item_path(path, index), context, report);
    let routes: Vec<Option<Placed>> = items.iter().enumerate().map(read_one).collect();
    let routes: Vec<Placed> = routes.into_iter().collect::<Option<_>>()?;
    warn_about_unreachable(&routes, context, report);
    Some(routes.into_iter().map(|placed| placed.spec).collect())
}

fn is_empty(node: &Node) -> bool {
    match &node.kind {
        NodeKind::List(items) => items.is_empty(),
        NodeKind::Scalar(scalar) => scalar.kind() == Kind::Null,
        NodeKind::Map(_) | NodeKind::Reported => false,
    }
}

/// Reads every setting of one route, then builds it if all were valid.
fn route(node: &Node, path: &str, context: &Context, report: &mut Report) -> Option<Placed> {
    let what = "a mapping with `path` and one of `upstream`, `respond` or `redirect`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let pattern = route_path(&section, context, report);
    let action = action(&section, context, report);
    let auth = read_mode(&section, context.has_auth, report);
    let allow = read_allow(&section, auth, context.has_auth, report);
    let header_up = section.read_or("header_up", HeaderRules::default(), report, headers::rules);
    let header_down = section.read_or(
        "header_down",
        HeaderRules::default(),
        report,
        headers::rules,
    );
    let (path, path_at, path_key) = pattern?;
    let spec = RouteSpec {
        path,
        action: action?,
        auth: auth?,
        allow: allow?,
        header_up: header_up?,
        header_down: header_down?,
        line: report.line_of(node.at),
    };
    Some(Placed {
        spec,
        path_at,
        path_key,
    })
}

/// The required `path`, with where it is written.
fn route_path(
    section: &Section,
    context: &Context,
    report: &mut Report,
) -> Option<(PathPattern, usize, String)> {
    let Some((node, path)) = section.get("path") else {
        section.missing("path", report);
        return None;
    };
    let scalar = text(node, &path, "a path such as `/api/*`", report)?;
    let problem = match pattern(&scalar.value) {
        Ok(pattern) if context.has_auth && is_reserved(&pattern) => reserved(scalar),
        Ok(pattern) => return Some((pattern, node.at, path)),
        Err(problem) => format!("{} {problem}", quoted(scalar.shown())),
    };
    report.error(node.at, &path, problem);
    None
}

/// Whether a pattern takes paths under [`AUTH_PREFIX`]; a wider one such
/// as `/*` only gets what supervise does not answer itself.
fn is_reserved(pattern: &PathPattern) -> bool {
    let auth = AUTH_PREFIX.trim_end_matches('/');
    match pattern {
        PathPattern::Exact(path) => path.starts_with(AUTH_PREFIX),
        PathPattern::Prefix(prefix) => prefix == auth || prefix.starts_with(AUTH_PREFIX),
    }
}

fn reserved(scalar: &Scalar) -> String {
    format!(
        "{} is on supervise's own sign-in paths: with an `auth` section, supervise \
         answers `{AUTH_PREFIX}*` itself (sign-in, callback, logout, whoami), so this \
         route would never be used; choose another path",
        quoted(scalar.shown())
    )
}

/// A route path: exact, or a prefix when it ends in `*`. The error says
/// why, without repeating the text.
pub(super) fn pattern(text: &str) -> Result<PathPattern, String> {
    let (body, is_prefix) = match text.strip_suffix('*') {
        Some(body) => (body, true),
        None => (text, false),
    };
    if !body.starts_with('/') {
        return Err("does not start with `/`; a route path looks like `/api/health`".into());
    }
    if let Some(problem) = character_problem(body) {
        return Err(problem.to_string());
    }
    if let Some(problem) = normal_form_problem(body, is_prefix) {
        return Err(problem.to_string());
    }
    routed_form(body)?;
    let body = body.to_string();
    Ok(if is_prefix {
        PathPattern::Prefix(body)
    } else {
        PathPattern::Exact(body)
    })
}

/// Characters a pattern cannot hold, with the reason.
fn character_problem(body: &str) -> Option<&'static str> {
    let found = |wanted: fn(char) -> bool| body.chars().any(wanted);
    if found(|c| c == '*') {
        Some("has a `*` before its end; `*` is allowed only as the last character, for a prefix")
    } else if found(|c| c == '?') {
        Some("holds `?`; routes match the path only, never the query string")
    } else if found(|c| c == '#') {
        Some("holds `#`; the fragment of a URL is never sent to the server")
    } else if found(|c| c.is_whitespace() || c.is_control()) {
        Some("holds a space or control character, which no request path has")
    } else {
        None
    }
}

/// Requires `body` to be written as request paths are when routes are
/// matched (the proxy's `normalize`), or it could never match. A prefix
/// is checked with a character after it, since its last segment goes on
/// in the request.
fn routed_form(body: &str) -> Result<(), String> {
    let probe = format!("{body}x");
    match normalize(&probe) {
        Ok(routed) if routed == probe => Ok(()),
        Ok(routed) => {
            let routed = routed.strip_suffix('x').unwrap_or(&routed);
            Err(format!(
                "request paths are normalised before routing; write it `{routed}`"
            ))
        }
        Err(error) => Err(format!("no request path can match it: {error}")),
    }
}

/// Forms that normalising a request path removes, so that no request
/// could match them. For a prefix, the last segment may continue in the
/// request (`/a/.*` takes `/a/.well-known`), so only whole segments count.
fn normal_form_problem(body: &str, is_prefix: bool) -> Option<&'static str> {
    if body.contains("//") {
        return Some(
            "holds `//`; request paths are normalised before routing, which merges \
             repeated slashes, so this could never match",
        );
    }
    let mut segments: Vec<&str> = body.split('/').collect();
    if is_prefix {
        segments.pop();
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Some(
            "holds a `.` or `..` segment; request paths are normalised before routing, \
             which resolves those, so this could never match",
        );
    }
    None
}

/// Exactly one of the actions; each present one is read, so that all of
/// its errors are reported even when there are too many.
fn action(section: &Section, context: &Context, report: &mut Report) -> Option<RouteAction> {
    let present: Vec<&str> = ACTIONS
        .into_iter()
        .filter(|key| section.get(key).is_some())
        .collect();
    let actions: Vec<Option<RouteAction>> = present
        .iter()
        .map(|key| one_action(section, key, context, report))
        .collect();
    match present.as_slice() {
        [_] => actions.into_iter().flatten().next(),
        [] => {
            let message = "set what the route does: `upstream: NAME`, `respond: {...}` \
                           or `redirect: {to: ...}`";
            report.error(section.at, &section.path, message);
            None
        }
        [first, second, ..] => {
            let message = format!(
                "a route does one thing, but this one has both `{first}` and `{second}`; keep one"
            );
            let at = section.key_at(second).unwrap_or(section.at);
            report.error(at, &child_path(&section.path, second), message);
            None
        }
    }
}

fn one_action(
    section: &Section,
    key: &str,
    context: &Context,
    report: &mut Report,
) -> Option<RouteAction> {
    let (node, path) = section.get(key)?;
    match key {
        "upstream" => upstream(node, &path, context.upstreams, report),
        "respond" => respond(node, &path, report),
        _ => redirect(node, &path, report),
    }
}

/// `upstream: NAME`, which `proxy.upstreams` must define.
fn upstream(node: &Node, path: &str, known: &[String], report: &mut Report) -> Option<RouteAction> {
    let scalar = text(node, path, "the name of an upstream", report)?;
    if known.contains(&scalar.value) {
        return Some(RouteAction::Upstream(scalar.value.clone()));
    }
    let shown = quoted(scalar.shown());
    let message = if known.is_empty() {
        format!("no upstream is named {shown}; the file defines none under `proxy.upstreams`")
    } else {
        let names = known.join(", ");
        format!("no upstream is named {shown}; the upstreams are: {names}")
    };
    report.error(node.at, path, message);
    None
}

/// `respond: {status, body, headers}`.
fn respond(node: &Node, path: &str, report: &mut Report) -> Option<RouteAction> {
    let what = "a mapping with `status`, `body` and `headers`";
    let section = Section::open(node, path, &RESPOND_KEYS, what, report)?;
    let status = section.read_or("status", StatusCode::OK, report, final_status);
    let body = section.read_or("body", String::new(), report, |node, path, report| {
        text(node, path, "the text of the body", report).map(|body| body.value.clone())
    });
    let headers = section.read_or("headers", Headers::new(), report, headers::headers);
    Some(RouteAction::Respond {
        status: status?,
        body: body?,
        headers: headers?,
    })
}

/// `redirect: {to, status}`.
fn redirect(node: &Node, path: &str, report: &mut Report) -> Option<RouteAction> {
    let what = "a mapping with `to` and `status`";
    let section = Section::open(node, path, &REDIRECT_KEYS, what, report)?;
    let to = match section.get("to") {
        Some((node, path)) => redirect_target(node, &path, report),
        None => {
            section.missing("to", report);
            None
        }
    };
    let status = section.read_or("status", StatusCode::FOUND, report, redirect_status);
    Some(RouteAction::Redirect {
        to: to?,
        status: status?,
    })
}

/// A non-empty URL or path that can be sent as `Location`.
fn redirect_target(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "a URL or a path", report)?;
    let value = &scalar.value;
    let problem = if value.is_empty() {
        "is empty; write where to send the client, a URL or a path"
    } else if !value.chars().all(|c| c.is_ascii_graphic()) {
        "holds a space, a control character or a character outside ASCII; \
         percent-encode it"
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

/// An HTTP status code, 100 to 599.
fn status(node: &Node, path: &str, report: &mut Report) -> Option<StatusCode> {
    let code = count(node, path, report)?;
    let valid = u16::try_from(code)
        .ok()
        .filter(|code| (100..=599).contains(code));
    match valid.and_then(|code| StatusCode::from_u16(code).ok()) {
        Some(status) => Some(status),
        None => {
            let message = format!("`{code}` is not an HTTP status; expected 100 to 599");
            report.error(node.at, path, message);
            None
        }
    }
}

/// A status that can end a response: 1xx ones only announce another.
fn final_status(node: &Node, path: &str, report: &mut Report) -> Option<StatusCode> {
    let status = status(node, path, report)?;
    if !status.is_informational() {
        return Some(status);
    }
    let message = format!(
        "`{}` is informational and cannot be the answer itself; use 200 to 599",
        status.as_u16()
    );
    report.error(node.at, path, message);
    None
}

fn redirect_status(node: &Node, path: &str, report: &mut Report) -> Option<StatusCode> {
    let status = status(node, path, report)?;
    if REDIRECT_STATUSES.contains(&status.as_u16()) {
        return Some(status);
    }
    let message = format!(
        "`{}` is not a redirect status; use 301, 302, 303, 307 or 308",
        status.as_u16()
    );
    report.error(node.at, path, message);
    None
}

/// `auth`, by default `required` in a file with an `auth` section (secure
/// by default) and `public` in one without.
fn read_mode(section: &Section, has_auth: bool, report: &mut Report) -> Option<AuthMode> {
    let default = if has_auth {
        AuthMode::Required
    } else {
        AuthMode::Public
    };
    section.read_or("auth", default, report, |node, path, report| {
        auth(node, path, has_auth, report)
    })
}

/// `public`, `optional` or `required`; the last two need an `auth`
/// section to sign users in with.
fn auth(node: &Node, path: &str, has_auth: bool, report: &mut Report) -> Option<AuthMode> {
    let scalar = text(node, path, AUTH_MODES, report)?;
    let (mode, needs) = match scalar.value.as_str() {
        "public" => return Some(AuthMode::Public),
        "optional" => (AuthMode::Optional, "offers"),
        "required" => (AuthMode::Required, "needs"),
        _ => {
            let shown = quoted(scalar.shown());
            let message = format!("{shown} is not an auth mode; expected {AUTH_MODES}");
            report.error(node.at, path, message);
            return None;
        }
    };
    if has_auth {
        return Some(mode);
    }
    let message = format!("route {needs} sign-in but the file has no `auth` section");
    report.error(node.at, path, message);
    None
}

/// `allow`, when the route signs users in. On a public route it would
/// never be checked, which reads as a rule but lets everyone through, so
/// it is refused there; with the mode in error, only its own problems
/// are reported.
fn read_allow(
    section: &Section,
    mode: Option<AuthMode>,
    has_auth: bool,
    report: &mut Report,
) -> Option<AllowRule> {
    let Some((node, path)) = section.get("allow") else {
        return Some(AllowRule::default());
    };
    let rule = allow::read(node, &path, report);
    if mode != Some(AuthMode::Public) {
        return rule;
    }
    let message = if has_auth {
        "`allow` needs `auth: required` (or `optional`); on this public route it would \
         never be checked"
    } else {
        "`allow` needs `auth: required`, and sign-in needs an `auth` section, which the \
         file does not have"
    };
    report.error(section.key_at("allow").unwrap_or(node.at), &path, message);
    None
}

/// Warns about a route with the same pattern as an earlier one, and one
/// on or under the health path.
fn warn_about_unreachable(routes: &[Placed], context: &Context, report: &mut Report) {
    for (index, route) in routes.iter().enumerate() {
        let pattern = &route.spec.path;
        let earlier = routes.get(..index).unwrap_or_default();
        if let Some(first) = earlier.iter().find(|other| other.spec.path == *pattern) {
            let message = format!(
                "`{pattern}` is also the path of the route on line {}, which wins the \
                 tie, so this route is never used",
                first.spec.line
            );
            report.warn(route.path_at, &route.path_key, message);
        }
        if let Some(health) = context.health_path {
            warn_about_health(route, health, report);
        }
    }
}

fn warn_about_health(route: &Placed, health: &str, report: &mut Report) {
    let (text, is_prefix) = match &route.spec.path {
        PathPattern::Exact(text) => (text, false),
        PathPattern::Prefix(text) => (text, true),
    };
    let under = format!("{}/", health.trim_end_matches('/'));
    let message = if text == health {
        let what = if is_prefix { "that path" } else { "it" };
        format!(
            "`{health}` is the health path, which supervise answers before any route, \
             so this route never gets {what}"
        )
    } else if text.starts_with(&under) {
        format!(
            "`{}` is under the health path `{health}`, which supervise answers itself; \
             a path apart from it keeps the two from being confused",
            route.spec.path
        )
    } else {
        return;
    };
    report.warn(route.path_at, &route.path_key, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(path: &str) -> PathPattern {
        PathPattern::Exact(path.to_string())
    }

    fn prefix(path: &str) -> PathPattern {
        PathPattern::Prefix(path.to_string())
    }

    /// Exact paths, prefixes and the catch-all read as they should.
    #[test]
    fn valid_patterns() {
        let cases = [
            ("/", exact("/")),
            ("/*", prefix("/")),
            ("/api/health", exact("/api/health")),
            ("/api/", exact("/api/")),
            ("/test*", prefix("/test")),
            ("/auth/*", prefix("/auth/")),
            ("/a/.*", prefix("/a/.")),
            ("/a/..*", prefix("/a/..")),
            ("/caf%C3%A9", exact("/caf%C3%A9")),
            ("/a%20b", exact("/a%20b")),
            ("/a%2Fb", exact("/a%2Fb")),
            ("/a.b/..c/.d", exact("/a.b/..c/.d")),
        ];
        for (text, expected) in cases {
            assert_eq!(pattern(text), Ok(expected), "{text}");
        }
    }

    /// Each kind of bad pattern is refused with its reason.
    #[test]
    fn invalid_patterns() {
        let cases = [
            ("", "does not start with `/`"),
            ("*", "does not start with `/`"),
            ("api/health", "does not start with `/`"),
            ("/a*/b", "`*` is allowed only as the last character"),
            ("/a**", "`*` is allowed only as the last character"),
            ("/search?q=1", "never the query string"),
            ("/page#top", "never sent to the server"),
            ("/a b", "space or control character"),
            ("/a\tb", "space or control character"),
            ("/caf\u{e9}", "write it `/caf%C3%A9`"),
            ("/%41pi", "write it `/Api`"),
            ("/a%2fb", "write it `/a%2Fb`"),
            ("/a%zz", "no request path can match it"),
            ("//a", "holds `//`"),
            ("/a//*", "holds `//`"),
            ("/a/./b", "`.` or `..` segment"),
            ("/a/..", "`.` or `..` segment"),
            ("/../*", "`.` or `..` segment"),
            ("/.", "`.` or `..` segment"),
        ];
        for (text, fragment) in cases {
            let error = pattern(text).expect_err(text);
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }
}
