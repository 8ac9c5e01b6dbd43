//! Picks the route for a request: the most specific pattern wins.
//!
//! [`Router`] is built once from the configured routes and answers, for a
//! path already normalised by [`crate::proxy::path::normalize`], which
//! route takes it. An exact pattern beats every prefix, a longer prefix
//! beats a shorter one, and between equal patterns the one earlier in the
//! file wins, so the catch-all `/*` may be written first, as Caddy allows.
//! [`dead_routes`] finds the routes that can never be picked, for `check`
//! and a warning at startup. What a route then does (auth, forwarding,
//! answering) is left to the proxy.

use std::cmp::Reverse;

use crate::config::{PathPattern, RouteSpec};
use crate::proxy::path;

/// The routes, kept most specific first so that the first match wins.
///
/// A lookup is a linear scan without allocation: configs have a handful
/// of routes, and a scan over a few short string comparisons beats any
/// index at that size. A config with hundreds of routes would want a trie.
#[derive(Debug, Clone)]
pub struct Router {
    /// Each route with its index in file order, most specific first.
    sorted: Vec<(usize, RouteSpec)>,
}

impl Router {
    /// Sorts `routes` (in file order) by specificity, once.
    pub fn new(routes: Vec<RouteSpec>) -> Router {
        let mut sorted: Vec<(usize, RouteSpec)> = routes.into_iter().enumerate().collect();

        // The index is part of the key, so equal patterns keep file order.
        sorted.sort_by_key(|(index, route)| specificity(&route.path, *index));
        Router { sorted }
    }

    /// The route for `normalized_path` (the output of `path::normalize`),
    /// or `None` when no pattern matches it (the proxy answers 404). The
    /// route's `line` names it in logs.
    pub fn route(&self, normalized_path: &str) -> Option<&RouteSpec> {
        self.find(normalized_path).map(|(_, route)| route)
    }

    /// Like [`Router::route`], but gives the route's index in the list
    /// passed to [`Router::new`], for callers that keep per-route state
    /// in a parallel list.
    pub fn route_index(&self, normalized_path: &str) -> Option<usize> {
        self.find(normalized_path).map(|(index, _)| *index)
    }

    /// The route for `normalized_path` with its index in file order: what
    /// the proxy needs to act on it and to count it.
    pub fn lookup(&self, normalized_path: &str) -> Option<(usize, &RouteSpec)> {
        self.find(normalized_path)
            .map(|(index, route)| (*index, route))
    }

    fn find(&self, normalized_path: &str) -> Option<&(usize, RouteSpec)> {
        self.sorted
            .iter()
            .find(|(_, route)| matches(&route.path, normalized_path))
    }
}

/// Whether `pattern` takes `normalized_path`. Prefixes are plain string
/// prefixes: `/test*` takes `/test`, `/testing` and `/test/x`.
pub fn matches(pattern: &PathPattern, normalized_path: &str) -> bool {
    match pattern {
        PathPattern::Exact(exact) => normalized_path == exact,
        PathPattern::Prefix(prefix) => normalized_path.starts_with(prefix.as_str()),
    }
}

/// The sort key of a route: smaller is more specific. A path matched by
/// an exact pattern is that pattern, and a prefix matching it is at most
/// as long, so exact patterns go first whatever their length.
fn specificity(pattern: &PathPattern, index: usize) -> (u8, Reverse<usize>, usize) {
    match pattern {
        PathPattern::Exact(_) => (0, Reverse(0), index),
        PathPattern::Prefix(prefix) => (1, Reverse(prefix.len()), index),
    }
}

/// Indices (in `routes`' order) of the routes that can never be picked:
/// those whose pattern repeats an earlier route's, and those whose
/// pattern no normalised path can match (`/api//health`, `/%7euser`,
/// `/a/../b`: `normalize` never produces these, so write `/api/health`,
/// `/~user`, `/b`).
pub fn dead_routes(routes: &[RouteSpec]) -> Vec<usize> {
    routes
        .iter()
        .enumerate()
        .filter(|(index, route)| {
            let repeated = routes.iter().take(*index).any(|e| e.path == route.path);
            repeated || !can_match(&route.path)
        })
        .map(|(index, _)| index)
        .collect()
}

/// Whether some output of `path::normalize` matches `pattern`.
///
/// An exact pattern must be in normal form itself. A prefix must be the
/// start of some normal path; only its end can be completed by what
/// follows, so it is enough to try: nothing, one more character (for a
/// prefix ending in `/.` or `/..`), or the hex digits that finish an
/// escape it ends in the middle of (`/a%`, `/a%4`).
pub fn can_match(pattern: &PathPattern) -> bool {
    match pattern {
        PathPattern::Exact(exact) => path::normalize(exact).is_ok_and(|n| n == *exact),
        PathPattern::Prefix(prefix) if prefix.is_empty() => true,
        PathPattern::Prefix(prefix) => completions(prefix).iter().any(|tail| {
            let witness = format!("{prefix}{tail}");
            path::normalize(&witness).is_ok_and(|n| n.starts_with(prefix.as_str()))
        }),
    }
}

/// The tails worth appending to `prefix` to find a normal path it starts.
fn completions(prefix: &str) -> Vec<String> {
    let hex = "0123456789ABCDEF".chars();
    let mut tails = vec![String::new(), "x".to_owned()];
    if prefix.ends_with('%') {
        tails.push("20".to_owned());
    } else if prefix
        .strip_suffix(|c: char| c.is_ascii_hexdigit())
        .is_some_and(|rest| rest.ends_with('%'))
    {
        tails.extend(hex.map(String::from));
    }
    tails
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::{AuthMode, HeaderRules, RouteAction};
    use crate::proxy::path::normalize;

    /// A route to the `flask` upstream, at `line`.
    fn upstream(path: PathPattern, auth: AuthMode, line: usize) -> RouteSpec {
        RouteSpec {
            path,
            action: RouteAction::Upstream("flask".to_owned()),
            auth,
            allow: Default::default(),
            header_up: HeaderRules::default(),
            header_down: HeaderRules::default(),
            line,
        }
    }

    /// A route for `path` written like the file would (`*` ends a prefix).
    fn route(path: &str, line: usize) -> RouteSpec {
        let pattern = match path.strip_suffix('*') {
            Some(prefix) => PathPattern::Prefix(prefix.to_owned()),
            None => PathPattern::Exact(path.to_owned()),
        };
        upstream(pattern, AuthMode::Required, line)
    }

    /// The seed's routes, catch-all first as its Caddyfile has them.
    fn seed_router() -> Router {
        let respond = RouteAction::Respond {
            status: http::StatusCode::OK,
            body: "tested!!!".to_owned(),
            headers: Vec::new(),
        };
        let mut test = route("/test*", 3);
        test.action = respond;
        test.auth = AuthMode::Public;
        Router::new(vec![
            upstream(PathPattern::Prefix("/".to_owned()), AuthMode::Required, 1),
            upstream(
                PathPattern::Exact("/api/health".to_owned()),
                AuthMode::Public,
                2,
            ),
            test,
        ])
    }

    /// The line of the seed route that takes `raw` once normalised.
    fn seed_line(raw: &str) -> Option<usize> {
        let normal = normalize(raw).ok()?;
        seed_router().route(&normal).map(|r| r.line)
    }

    /// The seed's table routes by specificity, not by file order.
    #[test]
    fn seed_routes_by_specificity() {
        let table = [
            ("/api/health", 2),
            ("/test", 3),
            ("/testing", 3),
            ("/test/x", 3),
            ("/", 1),
            ("/api", 1),
            ("/api/health/x", 1),
            ("/api/healthz", 1),
            ("/API/HEALTH", 1),
            ("/home", 1),
        ];
        for (path, line) in table {
            assert_eq!(seed_line(path), Some(line), "path {path:?}");
        }
    }

    /// Spellings that try to reach or escape the public health route land
    /// where their normalised form says. `//api//health` is the health
    /// route on purpose: collapsing `//` is part of normalisation.
    #[test]
    fn seed_routes_on_the_normalised_path() {
        let table = [
            ("/api/health/../x", 1),
            ("/api/health/%2e%2e/x", 1),
            ("/x/../api/health", 2),
            ("//api//health", 2),
            ("/api%2Fhealth", 1),
            ("/api%2fhealth", 1),
            ("/api/health;x", 1),
            ("/api/health%23", 1),
            ("/api/health/", 1),
            ("/%61pi/health", 2),
            ("/test/../api/health", 2),
        ];
        for (path, line) in table {
            assert_eq!(seed_line(path), Some(line), "path {path:?}");
        }
    }

    /// A longer prefix beats a shorter one, whatever the order.
    #[test]
    fn longer_prefix_wins() {
        let router = Router::new(vec![route("/a*", 1), route("/a/b*", 2)]);
        assert_eq!(router.route("/a/b/c").map(|r| r.line), Some(2));
        assert_eq!(router.route("/a/c").map(|r| r.line), Some(1));
    }

    /// An exact pattern beats a prefix of the same text listed earlier.
    #[test]
    fn exact_beats_prefix() {
        let router = Router::new(vec![route("/a*", 1), route("/a", 2)]);
        assert_eq!(router.route("/a").map(|r| r.line), Some(2));
        assert_eq!(router.route("/ab").map(|r| r.line), Some(1));
    }

    /// Between equal patterns the earlier route wins.
    #[test]
    fn file_order_breaks_ties() {
        let router = Router::new(vec![route("/a*", 1), route("/a*", 2), route("/b", 3)]);
        assert_eq!(router.route_index("/a/x"), Some(0));
        let router = Router::new(vec![route("/b", 1), route("/b", 2)]);
        assert_eq!(router.route("/b").map(|r| r.line), Some(1));
    }

    /// Without routes, or without a matching one, nothing is picked.
    #[test]
    fn no_match_is_none() {
        assert_eq!(Router::new(Vec::new()).route("/"), None);
        let router = Router::new(vec![route("/a", 1), route("/b*", 2)]);
        assert_eq!(router.route("/c"), None);
        assert_eq!(router.route_index("/a/"), None);
    }

    /// Repeated patterns and patterns no normal path matches are dead.
    #[test]
    fn finds_dead_routes() {
        let routes: Vec<RouteSpec> = [
            "/*",
            "/a",
            "/a*",
            "/a",
            "/*",
            "/api//health",
            "/%7e",
            "/a/../b",
            "/x%2f",
            "/x%2F",
        ]
        .iter()
        .zip(1..)
        .map(|(path, line)| route(path, line))
        .collect();
        assert_eq!(dead_routes(&routes), vec![3, 4, 5, 6, 7, 8]);
    }

    /// Prefixes are dead only when no normal path can start with them.
    #[test]
    fn prefix_liveness() {
        let live = [
            "",
            "/",
            "/a/",
            "/a/.",
            "/a/..",
            "/a%",
            "/a%4",
            "/a%2",
            "/a%5",
            "/caf%C3%A9",
        ];
        for prefix in live {
            assert!(
                can_match(&PathPattern::Prefix(prefix.to_owned())),
                "{prefix:?}"
            );
        }
        let dead = [
            "a", "//", "/a/./", "/a/../", "/a%0", "/a%e", "/a%2e", "/a%%4", "/café",
        ];
        for prefix in dead {
            assert!(
                !can_match(&PathPattern::Prefix(prefix.to_owned())),
                "{prefix:?}"
            );
        }
    }

    /// The reference: file order, replacing the best so far only with a
    /// strictly more specific match.
    fn reference(routes: &[RouteSpec], path: &str) -> Option<usize> {
        let mut best: Option<(usize, &PathPattern)> = None;
        for (index, route) in routes.iter().enumerate() {
            if !matches(&route.path, path) {
                continue;
            }
            let better = match (best.map(|(_, p)| p), &route.path) {
                (None, _) => true,
                (Some(PathPattern::Prefix(_)), PathPattern::Exact(_)) => true,
                (Some(PathPattern::Prefix(old)), PathPattern::Prefix(new)) => new.len() > old.len(),
                _ => false,
            };
            if better {
                best = Some((index, &route.path));
            }
        }
        best.map(|(index, _)| index)
    }

    /// Patterns and paths over a tiny alphabet, so that they often match.
    fn pattern() -> impl Strategy<Value = String> {
        "/[ab/]{0,3}\\*?"
    }

    proptest! {
        /// The router picks what the brute-force reference picks.
        #[test]
        fn router_agrees_with_reference(
            patterns in prop::collection::vec(pattern(), 0..8),
            paths in prop::collection::vec("/[ab/]{0,4}", 1..8),
        ) {
            let routes: Vec<RouteSpec> =
                patterns.iter().zip(1..).map(|(p, line)| route(p, line)).collect();
            let router = Router::new(routes.clone());
            for path in &paths {
                prop_assert_eq!(router.route_index(path), reference(&routes, path));
            }
        }

        /// A prefix some normalised path starts with is never called dead.
        #[test]
        fn live_prefixes_are_found(
            prefix in "/[a/.%2eE04F]{0,5}",
            tail in "[a/.%2eE04F]{0,4}",
        ) {
            let reached = normalize(&format!("{prefix}{tail}"))
                .is_ok_and(|n| n.starts_with(prefix.as_str()));
            prop_assert!(!reached || can_match(&PathPattern::Prefix(prefix)));
        }

        /// A route `dead_routes` reports is never picked for any path.
        #[test]
        fn dead_routes_are_never_picked(
            patterns in prop::collection::vec(pattern(), 0..8),
            paths in prop::collection::vec("/[ab/.]{0,4}", 1..16),
        ) {
            let routes: Vec<RouteSpec> =
                patterns.iter().zip(1..).map(|(p, line)| route(p, line)).collect();
            let dead = dead_routes(&routes);
            let router = Router::new(routes);
            for path in paths.iter().filter_map(|p| normalize(p).ok()) {
                let picked = router.route_index(&path);
                prop_assert!(picked.is_none_or(|i| !dead.contains(&i)));
            }
        }
    }
}
