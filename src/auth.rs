//! Sign-in and access control: who is making a request, and may they pass.
//!
//! The proxy asks this module about every request on a route that is not
//! public, and hands it the auth endpoints (`/auth/...`). Nothing here
//! forwards a request; it answers "who is this" ([`identity::Identity`],
//! from a session cookie or a bearer token) and "may they pass"
//! (`rules`), and it owns the sign-in flow with the provider.
//!
//! # Layout
//!
//! - [`gate`]: [`gate::Auth`], what the proxy holds: who is asking (bearer
//!   token or session), and may they pass a route.
//! - [`flow`]: the endpoints under `/auth/`: sign-in start and callback,
//!   logout, whoami.
//! - [`dev`]: `provider: dev`, a sign-in page for local use.
//! - [`exchange`]: the provider's side of sign-in: the authorization and
//!   end-session URLs, and the code exchange at the token endpoint.
//! - [`http`]: the HTTPS client for the provider's endpoints.
//! - [`identity`]: the signed-in user, and the identity headers sent
//!   upstream (stripped from every client request first).
//! - [`provider`]: the identity provider found through discovery, and its
//!   signing keys (JWKS), refetched on rotation.
//! - [`redirect`]: where a user goes back to after sign-in; only a path on
//!   this site.
//! - [`rules`]: a route's allow rule against an identity.
//! - [`session`]: the signed session cookie, and signed values for the
//!   sign-in flow's cookie.
//! - [`token`]: checking ID tokens and bearer access tokens.

pub mod dev;
pub mod exchange;
pub mod flow;
pub mod gate;
pub mod http;
pub mod identity;
pub mod provider;
pub mod redirect;
pub mod rules;
pub mod session;
pub mod token;
