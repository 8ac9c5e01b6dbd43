//! `provider: dev`: a sign-in page served by supervise itself, for running
//! the stack on a laptop without an identity provider. It signs in anyone
//! as whoever they say they are, so the config refuses it on a listener
//! that is not loopback; the session, rules and headers after it are the
//! same code the real providers use.

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::auth::flow::parse_query;
use crate::auth::gate::{unix_now, Auth};
use crate::auth::identity::Identity;
use crate::auth::redirect::safe_return_path;
use crate::proxy::body::ProxyBody;
use crate::proxy::error::{answer, plain};

/// The largest sign-in form accepted.
const MAX_FORM: usize = 16 * 1024;

impl Auth {
    /// GET shows the form; POST signs in as what it says.
    pub async fn dev_sign_in(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let query = parse_query(request.uri().query().unwrap_or(""));
        let back = safe_return_path(query.get("rd").map_or("/", String::as_str));
        if request.method() != Method::POST {
            return page(&back);
        }
        let body = match Limited::new(request.into_body(), MAX_FORM).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "form too large\n".into()),
        };
        let form = parse_query(&String::from_utf8_lossy(&body));
        let Some(identity) = self.dev_identity(&form) else {
            return plain(StatusCode::BAD_REQUEST, "a user name is required\n".into());
        };
        tracing::info!(user = %identity.subject, "signed in with the dev provider");
        self.count_sign_in(true);
        let back = safe_return_path(form.get("rd").map_or(&back, String::as_str));
        self.signed_in(&identity, &back, None)
    }

    fn dev_identity(&self, form: &std::collections::HashMap<String, String>) -> Option<Identity> {
        let user = form
            .get("user")
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())?;
        let list = |name: &str| -> Vec<String> {
            let text = form.get(name).map_or("", String::as_str);
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let email = form
            .get("email")
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty());
        Some(Identity {
            subject: user.to_owned(),
            name: Some(user.to_owned()),
            email,
            roles: list("roles"),
            groups: list("groups"),
            groups_overage: false,
            expires: unix_now() + self.spec.session.ttl.as_secs(),
        })
    }
}

/// The sign-in form; `back` is already a safe path on this site.
fn page(back: &str) -> Response<ProxyBody> {
    let back = escape(back);
    let html = format!(
        "<!doctype html>\n<meta charset=utf-8>\n<title>Sign in (dev)</title>\n\
         <h1>Sign in (dev provider)</h1>\n\
         <p>Local development only: you are signed in as whoever you say.</p>\n\
         <form method=post action=\"/auth/dev\">\n\
         <input type=hidden name=rd value=\"{back}\">\n\
         <p><label>User <input name=user required autofocus></label>\n\
         <p><label>Email <input name=email type=email></label>\n\
         <p><label>Roles (comma-separated) <input name=roles value=\"reader\"></label>\n\
         <p><label>Groups (comma-separated) <input name=groups></label>\n\
         <p><button type=submit>Sign in</button>\n</form>\n"
    );
    answer(StatusCode::OK, "text/html; charset=utf-8", html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
